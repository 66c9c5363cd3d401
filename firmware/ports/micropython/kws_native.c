/* kws_native: the library's front end and convolution kernels as a MicroPython dynamic native
 * module (.mpy), for the kws_mp package (kws/emit/micropython_runtime/, which uses it when it is
 * installed beside the package: kernels "native"). Built by kws.toolchain.micropython.build_native
 * with MicroPython's py/dynruntime.mk and tools/mpy_ld.py, linked with [mfcc] and [nn] of
 * firmware/sources.txt and a run's kws_mfcc_tables.c (the tables are the run's; everything
 * else is the library's, unchanged). Functions (buffers: array('h'), bytes, bytearray,
 * array('i'); every length is checked):
 *
 *   tables()                              (window_len, stride, fft_len, n_mels, n_out)
 *   mfcc_frame(pcm, start, out)           kws_mfcc_frame on pcm[start:start + window_len] → out
 *   conv2d(x, w, bias, mult, shift, p, out)
 *       kws_conv2d_s8 (p[16] == 0; kws_pwconv2d_s8 for a 1x1 kernel of stride 1) or
 *       kws_dwconv2d_s8 (p[16] == 1; weights [kh][kw][C]) with
 *       p = H, W, Cin, Cout, kh, kw, sh, sw, top, left, OH, OW, in_zp, out_zp, act_min, act_max,
 *       depthwise (array('i')).
 */
#include "py/dynruntime.h"

#include "kws_mfcc.h"
#include "kws_mfcc_tables.h"
#include "kws_nn.h"

#define SCRATCH_CELLS KWS_MFCC_SCRATCH_CELLS_FOR(KWS_MFCC_FFT_LEN, KWS_MFCC_N_MELS)

/* Not static: mpy_ld cannot place static bss variables. */
kws_mfcc_cell_t kws_native_scratch[SCRATCH_CELLS];

static void check(kws_status_t status, const char *what)
{
    if (status != KWS_OK) {
        mp_raise_ValueError(what);
    }
}

static mp_obj_t tables(void)
{
    mp_obj_t items[5] = {
        mp_obj_new_int(kws_mfcc_tables.window_len), mp_obj_new_int(kws_mfcc_tables.stride),
        mp_obj_new_int(kws_mfcc_tables.fft_len), mp_obj_new_int(kws_mfcc_tables.n_mels),
        mp_obj_new_int(kws_mfcc_tables.n_out)};
    return mp_obj_new_tuple(5, items);
}
static MP_DEFINE_CONST_FUN_OBJ_0(tables_obj, tables);

static mp_obj_t mfcc_frame(mp_obj_t pcm_obj, mp_obj_t start_obj, mp_obj_t out_obj)
{
    mp_buffer_info_t pcm, out;
    mp_get_buffer_raise(pcm_obj, &pcm, MP_BUFFER_READ);
    mp_get_buffer_raise(out_obj, &out, MP_BUFFER_WRITE);
    mp_int_t start = mp_obj_get_int(start_obj);
    if (start < 0 || (size_t)(start + kws_mfcc_tables.window_len) * 2 > pcm.len
        || out.len < (size_t)kws_mfcc_tables.n_out) {
        mp_raise_ValueError(MP_ERROR_TEXT("mfcc_frame: pcm shorter than start + window_len, "
                                          "or out shorter than n_out"));
    }
    check(kws_mfcc_frame(&kws_mfcc_tables, (const int16_t *)pcm.buf + start, kws_native_scratch,
                         (int8_t *)out.buf),
          MP_ERROR_TEXT("kws_mfcc_frame failed"));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(mfcc_frame_obj, mfcc_frame);

static const int32_t *words(mp_obj_t obj, size_t n, const char *what)
{
    mp_buffer_info_t b;
    mp_get_buffer_raise(obj, &b, MP_BUFFER_READ);
    if (b.len < 4 * n) {
        mp_raise_ValueError(what);
    }
    return (const int32_t *)b.buf;
}

static mp_obj_t conv2d(size_t n_args, const mp_obj_t *args)
{
    (void)n_args;
    const int32_t *p = words(args[5], 17, MP_ERROR_TEXT("conv2d: p needs 17 ints"));
    const kws_dims_t in = {p[0], p[1], p[2]}, out_dims = {p[10], p[11], p[3]};
    const kws_window_t window = {p[4], p[5], p[6], p[7], p[8], p[9]};
    const kws_quant_t quant = {-p[12], p[13], p[14], p[15]};
    const size_t cout = (size_t)p[3];
    mp_buffer_info_t x, w, out;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &w, MP_BUFFER_READ);
    mp_get_buffer_raise(args[6], &out, MP_BUFFER_WRITE);
    const size_t w_len = (size_t)p[4] * p[5] * (p[16] ? p[2] : (size_t)p[2] * cout);
    if (x.len < (size_t)p[0] * p[1] * p[2] || w.len < w_len
        || out.len < (size_t)p[10] * p[11] * cout) {
        mp_raise_ValueError(MP_ERROR_TEXT("conv2d: a buffer is shorter than its dims"));
    }
    const int32_t *bias = words(args[2], cout, MP_ERROR_TEXT("conv2d: bias too short"));
    const int32_t *mult = words(args[3], cout, MP_ERROR_TEXT("conv2d: mult too short"));
    const int32_t *shift = words(args[4], cout, MP_ERROR_TEXT("conv2d: shift too short"));
    const int pointwise = !p[16] && p[4] == 1 && p[5] == 1 && p[6] == 1 && p[7] == 1
                          && p[8] == 0 && p[9] == 0;
    if (pointwise) { /* the 1x1 path, as the generated kws_model.c calls it */
        check(kws_pwconv2d_s8(&quant, mult, shift, &in, x.buf, w.buf, bias, (int32_t)cout,
                              out.buf), MP_ERROR_TEXT("kws_pwconv2d_s8 failed"));
    } else if (p[16]) {
        check(kws_dwconv2d_s8(&window, &quant, mult, shift, &in, x.buf, w.buf, bias, &out_dims,
                              out.buf), MP_ERROR_TEXT("kws_dwconv2d_s8 failed"));
    } else {
        check(kws_conv2d_s8(&window, &quant, mult, shift, &in, x.buf, w.buf, bias, &out_dims,
                            out.buf), MP_ERROR_TEXT("kws_conv2d_s8 failed"));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(conv2d_obj, 7, 7, conv2d);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args)
{
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_tables, MP_OBJ_FROM_PTR(&tables_obj));
    mp_store_global(MP_QSTR_mfcc_frame, MP_OBJ_FROM_PTR(&mfcc_frame_obj));
    mp_store_global(MP_QSTR_conv2d, MP_OBJ_FROM_PTR(&conv2d_obj));
    MP_DYNRUNTIME_INIT_EXIT
}
