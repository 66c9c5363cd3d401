"""SpecAugment masks (kws.training.spec_augment): band widths, the fill value, repeatability."""
import torch
from omegaconf import OmegaConf

from kws.training.spec_augment import mask_batch


def settings(**over):
    base = {"enabled": True, "time_masks": 2, "time_mask_frames": 8, "freq_masks": 1,
            "freq_mask_coeffs": 2}
    return OmegaConf.create({**base, **over})


def batch(n=64, frames=49, coeffs=10):
    return torch.randn(n, 1, frames, coeffs, generator=torch.Generator().manual_seed(1)) + 10


def test_masked_cells_take_the_fill_and_bands_are_no_wider_than_set():
    x, fill = batch(), torch.arange(10, dtype=torch.float32) - 100
    torch.manual_seed(0)
    y = mask_batch(x, fill, settings(time_masks=1, freq_masks=0))
    masked = y != x                                   # x is never near -100, the fill is
    assert torch.equal(y[masked], fill.expand_as(y)[masked])
    rows = masked[:, 0].all(dim=2)                    # a time mask covers whole frames
    assert torch.equal(masked[:, 0].any(dim=2), rows)
    assert int(rows.sum(dim=1).max()) <= 8
    assert int(rows.sum()) > 0                        # 64 clips: some band is not empty


def test_frequency_masks_cover_whole_coefficients():
    x, fill = batch(), torch.full((10,), -100.0)
    torch.manual_seed(0)
    masked = mask_batch(x, fill, settings(time_masks=0, freq_masks=1)) != x
    cols = masked[:, 0].all(dim=1)
    assert torch.equal(masked[:, 0].any(dim=1), cols)
    assert 0 < int(cols.sum()) and int(cols.sum(dim=1).max()) <= 2


def test_no_masks_is_the_identity_and_a_seed_repeats_the_draw():
    x, fill = batch(), torch.zeros(10)
    assert torch.equal(mask_batch(x, fill, settings(time_masks=0, freq_masks=0)), x)
    torch.manual_seed(3)
    a = mask_batch(x, fill, settings())
    torch.manual_seed(3)
    b = mask_batch(x, fill, settings())
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_a_band_wider_than_the_axis_is_clipped_to_it():
    x, fill = batch(n=8, frames=4, coeffs=3), torch.full((3,), -100.0)
    torch.manual_seed(0)
    y = mask_batch(x, fill, settings(time_masks=3, time_mask_frames=50, freq_masks=0))
    assert y.shape == x.shape
