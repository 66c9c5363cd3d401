import numpy as np

from kws.golden.intmath import (divide_by_power_of_two, doubling_high_mult, floor_log2,
                         quantize_multiplier, requantize, round_shift)


def test_floor_log2_is_exact_at_every_power_of_two_boundary():
    xs = np.array([2**k + d for k in range(1, 62) for d in (-1, 0, 1)], dtype=np.int64)
    expected = np.array([int(x).bit_length() - 1 for x in xs])
    assert np.array_equal(floor_log2(xs), expected)
    assert floor_log2(np.array([1]))[0] == 0


def test_divide_by_power_of_two_rounds_half_away_from_zero():
    x = np.array([5, -5, 6, -6, 7, -7, 4, -4])
    assert list(divide_by_power_of_two(x, 1)) == [3, -3, 3, -3, 4, -4, 2, -2]
    assert list(round_shift(np.array([5, -5, 3, -3]), 1)) == [3, -2, 2, -1]   # half up


def _round_half_away(value: int, shift: int) -> int:
    if shift <= 0:
        return value
    quotient, remainder = divmod(abs(value), 1 << shift)
    quotient += remainder >= 1 << (shift - 1)
    return quotient if value >= 0 else -quotient


def test_requantize_matches_the_definition_in_exact_integers():
    rng = np.random.default_rng(0)
    x = rng.integers(-2**24, 2**24, 10000)
    for scale in (0.0007, 0.013, 0.37, 0.9999):
        m, s = quantize_multiplier(scale)
        assert 2**30 <= m < 2**31
        got = requantize(x, m, s)
        # Python-integer reference: doubling high multiply, then round half away from zero
        want = [_round_half_away((int(v) * m + 2**30) >> 31, -s) for v in x]
        assert list(got) == want
        assert np.allclose(got, x * scale, atol=1.01)
    assert list(doubling_high_mult(np.array([2**30]), 2**30)) == [2**29]
