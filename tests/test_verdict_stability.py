"""No verdict flips under another bootstrap seed ([19]): a difference's verdict comes from its deterministic paired
test, while the interval's ends move with the seed by about their Monte-Carlo error."""
import numpy as np

from neurodx.evaluate.metrics import auc_score, paired_difference
from neurodx.evaluate.reproduction import claim, verdict


def _borderline_dice(n=80, seed=2):
    "Per-case Dice of two methods whose mean difference sits near the edge of significance (as ISLES's did)."
    rng = np.random.default_rng(seed)
    a = np.clip(rng.beta(5, 2, n), 0, 1)
    return a, np.clip(a - 0.035 + rng.normal(0, 0.14, n), 0, 1)


def test_a_borderline_difference_gets_one_verdict_under_every_seed():
    a, b = _borderline_dice()
    rows = [claim("P", "A − B", paired_difference(np.mean, a, b, n_boot=1000, seed=s), "Dice", kind="difference")
            for s in range(40)]
    ends_positive = {r["lo"] > 0 for r in rows}
    assert ends_positive == {True, False}, "the case must be one where the interval alone flips with the seed"
    assert len({verdict(r) for r in rows}) == 1, {verdict(r) for r in rows}
    spread = np.std([r["lo"] for r in rows])
    mcse = np.median([r["lo_mcse"] for r in rows])
    assert 0.4 < mcse / spread < 2.5  # the reported Monte-Carlo error is the seed-to-seed spread's size


def test_auc_difference_test_is_seed_free_and_sided():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 150); za = 1.2 * y + rng.normal(0, 1, 150)
    pa, pb = 1 / (1 + np.exp(-za)), 1 / (1 + np.exp(-(za + rng.normal(0, 1.5, 150))))
    got = {paired_difference(auc_score, pa, pb, y, n_boot=300, seed=s)["p_value"] for s in range(5)}
    assert len(got) == 1
    r = claim("P", "A − B", paired_difference(auc_score, pa, pb, y, n_boot=300), "AUC", kind="difference")
    assert verdict(r).startswith("supported")
    flipped = claim("P", "B − A", paired_difference(auc_score, pb, pa, y, n_boot=300), "AUC", kind="difference")
    assert verdict(flipped).startswith("contradicted")
