"""kws: keyword-spotting reference pipeline."""
