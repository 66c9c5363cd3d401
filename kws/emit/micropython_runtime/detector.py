"""The recogniser (kws/golden/detector.py, steps 1-3), one inference at a time.

Per inference with int8 logits l[c]: d = max(l) - l[c]; e = EXP_LUT[d] (Q15); sum = sum e;
p[c] = (255 e[c] + sum // 2) // sum. The last W p vectors are held; n = min(inferences, W);
smoothed[c] = (sum of held p[c] + n // 2) // n; top = first argmax. Fire when n >= min_count,
top is a keyword, smoothed[top] >= threshold and nothing fired in the last suppression_frames
frames. An event is (frame_index, label, score).
"""


def softmax_u8(logits, exp_lut, p_one):
    """Step 1: int8 logits (a sequence of ints) → p in 0..P_ONE (255; a list)."""
    top = max(logits)
    e = [exp_lut[top - v] for v in logits]
    total = sum(e)
    return [(x * p_one + total // 2) // total for x in e]


class Recognizer:
    def __init__(self, model):
        self.is_keyword = model.IS_KEYWORD
        self.exp_lut = model.EXP_LUT
        self.p_one = model.P_ONE
        self.window = model.AVERAGE_WINDOW
        self.min_count = model.MIN_COUNT
        self.threshold = model.THRESHOLD
        self.suppression = model.SUPPRESSION_FRAMES
        self.reset()

    def reset(self):
        self.held = []                  # oldest first, at most `window` p vectors
        self.last_fire = None

    def push(self, frame_index, logits):
        """One inference: its frame index and int8 logits → an event tuple, or None."""
        self.held.append(softmax_u8(logits, self.exp_lut, self.p_one))
        if len(self.held) > self.window:
            self.held.pop(0)
        n = len(self.held)
        top, score = 0, -1
        for c in range(len(self.is_keyword)):
            s = (sum(p[c] for p in self.held) + n // 2) // n
            if s > score:
                top, score = c, s
        if n < self.min_count or not self.is_keyword[top] or score < self.threshold:
            return None
        if self.last_fire is not None and frame_index - self.last_fire < self.suppression:
            return None
        self.last_fire = frame_index
        return (frame_index, top, score)
