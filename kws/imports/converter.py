"""Keras models quantised to int8 .tflite by TensorFlow's own converter: how to make a file for
kws-import, and the models its tests and bench/import_tflite.py use. Needs the `tf` extra
(`pip install -e '.[tf]'`: tensorflow-cpu); TensorFlow is imported only when called.

    data = to_int8_tflite(model, representative)     # bytes of a full-integer .tflite

Full-integer post-training quantisation: `representative` ([N, H, W, C] float32, the model's
real inputs or a stand-in) calibrates every activation; weights per channel (the converter's
default, FULLY_CONNECTED too); the model's input and output int8 (no QUANTIZE / DEQUANTIZE
operators: kws-import serves int8 in and out). Seeded: the same call gives the same bytes.
"""
from __future__ import annotations

import os

import numpy as np

from kws.errors import KwsError


def tensorflow():
    """The tensorflow module (KwsError naming the extra when it is not installed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")       # no banner per import
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise KwsError(f"tensorflow is not installed ({exc}): pip install -e '.[tf]'") from None
    return tf


def to_int8_tflite(model, representative: np.ndarray) -> bytes:
    """model (a Keras model, batch 1) as a full-integer int8 .tflite, calibrated on
    `representative` [N, H, W, C] float32."""
    tf = tensorflow()
    samples = np.asarray(representative, np.float32)

    def dataset():
        for sample in samples:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def dscnn(*, seed: int, input_shape=(49, 10, 1), channels: int = 64, blocks: int = 4,
          classes: int = 12, first_kernel=(10, 4), first_stride=(2, 2),
          global_pool: str = "mean", softmax: bool = True, dense_stddev: float = 3.0):
    """The ARM ML-zoo DS-CNN (Hello Edge, arXiv 1711.07128; DS-CNN-S with the defaults): conv
    first_kernel / first_stride, then `blocks` depthwise-separable blocks (depthwise 3x3 and
    pointwise 1x1, each BatchNorm + ReLU), global average pool, dense `classes`, softmax.
    global_pool "mean" (GlobalAveragePooling2D: the converter writes MEAN) or "avgpool"
    (AveragePooling2D over the whole map + Flatten: AVERAGE_POOL_2D). Seeded random weights and
    BatchNorm statistics (untrained: instruction counts depend on shapes, not values); the dense
    weights drawn with `dense_stddev` so that the logits spread over a few units and the softmax
    output changes with the input (an untrained network's logits are otherwise nearly equal)."""
    tf = tensorflow()
    tf.keras.utils.set_random_seed(seed)
    layers = tf.keras.layers
    x = inputs = tf.keras.Input(input_shape, batch_size=1)
    x = layers.Conv2D(channels, first_kernel, strides=first_stride, padding="same")(x)
    x = layers.ReLU()(_batch_norm(layers, x, seed))
    for block in range(blocks):
        x = layers.DepthwiseConv2D(3, padding="same")(x)
        x = layers.ReLU()(_batch_norm(layers, x, seed + 1 + 2 * block))
        x = layers.Conv2D(channels, 1)(x)
        x = layers.ReLU()(_batch_norm(layers, x, seed + 2 + 2 * block))
    if global_pool == "mean":
        x = layers.GlobalAveragePooling2D()(x)
    elif global_pool == "avgpool":
        x = layers.Flatten()(layers.AveragePooling2D(pool_size=x.shape[1:3])(x))
    else:
        raise ValueError(f"global_pool={global_pool!r}: expected 'mean' or 'avgpool'")
    x = layers.Dense(classes, kernel_initializer=tf.keras.initializers.RandomNormal(
        stddev=dense_stddev, seed=seed))(x)
    if softmax:
        x = layers.Softmax()(x)
    return tf.keras.Model(inputs, x, name="dscnn")


def residual_cnn(*, seed: int, input_shape=(49, 10, 1), channels: int = 12, classes: int = 6):
    """A small residual CNN: conv 3x3 stride 2 (ReLU), a block of two 3x3 convs added to its input
    (Add, then ReLU: the converter fuses it into the ADD), max pool 2x2, global average pool
    (keepdims: MEAN with keepdims true) and flatten, dense logits (no softmax: the logits are
    compared with the interpreter directly)."""
    tf = tensorflow()
    tf.keras.utils.set_random_seed(seed)
    layers = tf.keras.layers
    x = inputs = tf.keras.Input(input_shape, batch_size=1)
    x = layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu")(x)
    y = layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
    y = layers.Conv2D(channels, 3, padding="same")(y)
    x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(layers.GlobalAveragePooling2D(keepdims=True)(x))
    x = layers.Dense(classes)(x)
    return tf.keras.Model(inputs, x, name="residual_cnn")


def _batch_norm(layers, x, seed: int):
    """BatchNormalization with seeded random statistics (as if trained), so the folded weights
    are not all the initialiser's."""
    bn = layers.BatchNormalization()
    y = bn(x)
    rng = np.random.default_rng(seed)
    c = x.shape[-1]
    bn.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c),
                    rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])
    return y
