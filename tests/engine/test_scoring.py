import itertools

import numpy as np
import pytest

from ssl_video.engine import scoring


def _brute_force_greedy(x, k, selected=()):
    """k-center greedy written the slow obvious way: recompute every min distance each step."""
    chosen = list(selected)
    picks = []
    for _ in range(k):
        best, best_d = None, -1.0
        for i in range(len(x)):
            if i in chosen:
                continue
            d = min(np.linalg.norm(x[i] - x[j]) for j in chosen)
            if d > best_d + 1e-12:
                best, best_d = i, d
        chosen.append(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("seed", range(5))
def test_k_center_greedy_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 3))
    got = scoring.k_center_greedy(x, 6, already_selected=[0, 1])
    assert got.tolist() == _brute_force_greedy(x, 6, selected=[0, 1])
    got = scoring.k_center_greedy(x, 6, first=4)
    assert got.tolist() == [4] + _brute_force_greedy(x, 5, selected=[4])


@pytest.mark.parametrize("seed", range(3))
def test_k_center_greedy_is_within_twice_the_optimal_radius(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 6, rng.normal(size=(4, 2)) - 6])
    k = 3
    optimal = min(scoring.covering_radius(x, c) for c in itertools.combinations(range(len(x)), k))
    greedy = scoring.covering_radius(x, scoring.k_center_greedy(x, k))
    assert greedy <= 2 * optimal + 1e-9


def test_k_center_greedy_skips_near_duplicates_and_respects_candidates():
    # 20 copies of one event and 3 distinct ones: k=4 must take one copy and the 3 others.
    x = np.concatenate([np.zeros((20, 2)) + 1e-3 * np.arange(20)[:, None], [[5.0, 0], [0, 5.0], [-5.0, 0]]])
    got = scoring.k_center_greedy(x, 4)
    assert sum(i < 20 for i in got) == 1 and {20, 21, 22} <= set(got.tolist())
    got = scoring.k_center_greedy(x, 10, candidates=[0, 1, 20])
    assert sorted(got.tolist()) == [0, 1, 20]
    assert scoring.k_center_greedy(x, 0).shape == (0,)
    with pytest.raises(ValueError, match="embeddings"):
        scoring.k_center_greedy(x[0], 2)


def test_normalize_surprise_removes_per_sequence_scale():
    rng = np.random.default_rng(0)
    err = rng.uniform(0.5, 1.5, size=40)
    seq = ["a"] * 20 + ["b"] * 20
    base = scoring.normalize_surprise(err, seq)
    scaled = err.copy()
    scaled[20:] *= 10.0  # drive b is uniformly "harder" (night, fast motion)
    np.testing.assert_allclose(scoring.normalize_surprise(scaled, seq), base, atol=1e-9)
    # a baseline (copy-last error) that scales with the error cancels it too
    np.testing.assert_allclose(scoring.normalize_surprise(scaled, seq,
                                                          baseline=np.where(np.arange(40) < 20, 1.0, 10.0)),
                               base, atol=1e-9)


def test_normalize_surprise_ranks_a_spike_in_a_quiet_drive_above_a_uniformly_hard_drive():
    rng = np.random.default_rng(1)
    quiet = rng.uniform(0.9, 1.1, size=50)
    quiet[17] = 3.0  # the one event in a long highway stretch
    hard = rng.uniform(9.0, 11.0, size=50)  # every window has a large raw error
    scores = scoring.normalize_surprise(np.concatenate([quiet, hard]), ["q"] * 50 + ["h"] * 50)
    assert int(np.argmax(scores)) == 17
    assert abs(np.median(scores[:50])) < 0.2 and abs(np.median(scores[50:])) < 0.2


def test_normalize_surprise_keeps_events_that_move_a_lot_but_not_motion_alone():
    rng = np.random.default_rng(2)
    log_motion = rng.normal(0, 0.5, size=200)
    log_err = 0.3 * log_motion + rng.normal(0, 0.1, size=200)  # error grows slowly with motion
    log_motion[10] += 2.3  # a fast stretch: 10x the motion, the error it implies
    log_err[10] += 0.3 * 2.3
    log_motion[20] += 2.3  # a cut-in: 10x the motion and 5x more error than that explains
    log_err[20] += 0.3 * 2.3 + np.log(5)
    scores = scoring.normalize_surprise(np.exp(log_err), ["a"] * 200, baseline=np.exp(log_motion))
    assert int(np.argmax(scores)) == 20 and scores[20] > 5
    assert abs(scores[10]) < 2


def test_normalize_surprise_pools_small_sequences_and_checks_input():
    err = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 8.0])
    scores = scoring.normalize_surprise(err, ["a", "b", "c", "d", "e", "f"])  # every drive has one window
    assert np.all(np.isfinite(scores)) and int(np.argmax(scores)) == 5
    with pytest.raises(ValueError, match="non-negative"):
        scoring.normalize_surprise(np.array([-1.0]), ["a"])
    with pytest.raises(ValueError, match="sequences"):
        scoring.normalize_surprise(np.array([1.0, 2.0]), ["a"])


def test_uncertainty_scores():
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]])
    ent = scoring.entropy_score(p)
    np.testing.assert_allclose(ent[:2], [0.0, 1.0], atol=1e-6)
    assert ent[1] > ent[3] > ent[2] > ent[0]  # (.7,.2,.1) spreads more mass than (.5,.5,0)
    np.testing.assert_allclose(scoring.margin_score(p), [0.0, 1.0, 1.0, 0.5], atol=1e-9)
    with pytest.raises(ValueError):
        scoring.entropy_score(np.ones((3, 1)))


def test_top_k_and_mixed_selection():
    scores = np.array([0.1, 5.0, 4.9, 4.8, 0.2, 3.0])
    assert scoring.top_k(scores, 2).tolist() == [1, 2]
    assert scoring.top_k(scores, 2, exclude=[1]).tolist() == [2, 3]
    # windows 1, 2, 3 are the same event; 5 is a different one
    emb = np.array([[0.0, 0], [1, 1], [1, 1.01], [1.01, 1], [0, 0.1], [9, 9]])
    got = scoring.mixed_selection(scores, emb, 2, candidate_factor=2)
    assert got.tolist() == [1, 5]
    got = scoring.mixed_selection(scores, emb, 2, already_selected=[5], candidate_factor=2)
    assert 5 not in got.tolist() and len(got) == 2


def test_select_windows_strategies():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 4))
    surprise = rng.normal(size=40)
    probs = rng.dirichlet(np.ones(3), size=40)
    labeled = [0, 1, 2]
    for by in scoring.STRATEGIES:
        picks, scores = scoring.select_windows(by, 5, embeddings=emb, already_selected=labeled, surprise=surprise,
                                               probs=probs)
        assert len(picks) == len(set(picks.tolist())) == 5 and not set(picks.tolist()) & set(labeled)
        assert scores.shape == (5,)
    picks, scores = scoring.select_windows("surprise", 3, embeddings=emb, surprise=surprise)
    assert picks.tolist() == np.argsort(-surprise)[:3].tolist()
    picks, scores = scoring.select_windows("uncertainty", 3, embeddings=emb, probs=probs)
    np.testing.assert_allclose(scores, np.sort(scoring.entropy_score(probs))[::-1][:3])
    picks, gains = scoring.select_windows("diversity", 4, embeddings=emb, already_selected=labeled)
    assert np.all(np.diff(gains) <= 1e-12)  # k-center gains never grow
    with pytest.raises(ValueError, match="surprise"):
        scoring.select_windows("mixed", 3, embeddings=emb)
    with pytest.raises(ValueError, match="labels"):
        scoring.select_windows("uncertainty", 3, embeddings=emb)
    with pytest.raises(ValueError, match="unknown strategy"):
        scoring.select_windows("best", 3, embeddings=emb)
