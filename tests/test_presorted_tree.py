"""The presorted tree builder gives scikit-learn's regression trees bit for bit."""
import numpy as np
import tensorflow as tf
from sklearn import tree as sk_tree
from sklearn.utils import _sorting as sk_sorting

from evaluation.metrics import presorted_tree


def _sklearn_tree(x, y, max_depth, seed):
  return sk_tree.DecisionTreeRegressor(max_depth=max_depth, random_state=seed).fit(
      x, y, sample_weight=np.ones(len(y)))


def _presorted_tree(x, y, max_depth, seed):
  return presorted_tree.build_regression_tree(
      x, y, presorted_tree.presort(x), presorted_tree.draw_seed(np.random.RandomState(seed)),
      max_depth)


def _codes(kind, rng, n, d):
  if kind == "continuous":
    return rng.normal(size=(n, d)).astype(np.float32)
  if kind == "few_values":
    return rng.randint(0, 4, size=(n, d)).astype(np.float32)
  if kind == "rounded":  # float16 rounding: many exact ties and many within 1e-7 of each other
    return (rng.normal(size=(n, d)) * 1e-3).astype(np.float16).astype(np.float32)
  codes = rng.normal(size=(n, d)).astype(np.float32)
  codes[:, 0] = 1.5  # a constant code
  codes[rng.randint(n, size=n // 3), -1] = codes[0, -1]  # one value shared by a third
  return codes


class PresortedTreeTest(tf.test.TestCase):

  def test_trees_equal_scikit_learn(self):
    rng = np.random.RandomState(0)
    for trial in range(80):
      kind = ("continuous", "few_values", "rounded", "constant")[trial % 4]
      n = int(rng.choice([1, 2, 3, 17, 40, 300]))
      d = int(rng.randint(1, 7))
      x = _codes(kind, rng, n, d)
      y = rng.normal(size=n) if trial % 3 else rng.randint(2, size=n).astype(np.float64)
      max_depth = int(rng.randint(1, 7))
      expected = _sklearn_tree(x, y, max_depth, trial)
      actual = _presorted_tree(x, y, max_depth, trial)
      self.assertTrue(presorted_tree.trees_equal(expected, actual),
                      msg=f"trial {trial}: {kind}, n={n}, d={d}, max_depth={max_depth}")
      self.assertAllEqual(expected.predict(x), actual.predict(x))

  def test_deep_tree_grows_to_pure_leaves(self):
    rng = np.random.RandomState(3)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = rng.normal(size=200)
    expected = _sklearn_tree(x, y, 30, 5)
    actual = _presorted_tree(x, y, 30, 5)
    self.assertTrue(presorted_tree.trees_equal(expected, actual))
    self.assertEqual(actual.tree_.node_count, 399)  # one leaf per point

  def test_trees_differ_when_the_seed_differs(self):
    # Many exactly tied splits, so the feature order (from the seed) decides: the comparison in
    # the test above is sharp enough to notice a wrong draw.
    x = np.repeat(np.eye(4, dtype=np.float32), 10, axis=0)
    x = np.concatenate([x, x], axis=1)  # every code has a twin: equal improvements
    y = np.repeat(np.arange(4.0), 10)
    trees = {presorted_tree.trees_equal(_sklearn_tree(x, y, 2, 0), _presorted_tree(x, y, 2, s))
             for s in range(6)}
    self.assertEqual(trees, {True, False})

  def test_builder_is_verified_on_this_scikit_learn(self):
    self.assertTrue(presorted_tree.is_exact())

  def test_introsort_swaps_like_scikit_learn(self):
    rng = np.random.RandomState(1)
    cases = [np.zeros(0), np.ones(1), np.array([2., 1.]), np.arange(16.)[::-1], np.ones(40),
             np.arange(17.), rng.randint(3, size=100), rng.randint(50, size=3000),
             rng.normal(size=5000)]
    for values in cases:
      values = np.asarray(values, dtype=np.float32)
      n = len(values)
      expected_values, expected_indices = values.copy(), np.arange(n, dtype=np.intp)
      sk_sorting._py_simultaneous_sort(expected_values, expected_indices, n,
                                       use_three_way_partition=True)
      # Sort a slice in the middle of a larger array, as the builder does.
      padded = np.concatenate([[9.], values, [-9.]]).astype(np.float32)
      indices = np.arange(-1, n + 1, dtype=np.int64)
      presorted_tree._introsort(padded, indices, 1, n)
      self.assertAllEqual(padded[1:n + 1], expected_values)
      self.assertAllEqual(indices[1:n + 1], expected_indices)
      self.assertAllEqual(indices[[0, -1]], [-1, n])

  def test_heapsort_sorts(self):
    rng = np.random.RandomState(2)
    values = rng.randint(20, size=200).astype(np.float32)
    indices = np.arange(200, dtype=np.int64)
    original = values.copy()
    presorted_tree._heapsort(values, indices, 0, 200)
    self.assertAllEqual(values, np.sort(original))
    self.assertAllEqual(original[indices], values)

  def test_running_sum_flags_ties_whose_order_changes_the_rounding(self):
    y = np.array([0.2, 0.35, 2.0, 3.0, 4.0])
    idx = np.arange(5, dtype=np.int64)
    tied = np.array([5., 5., 6., 6., 7.], dtype=np.float32)
    # (0.1 + 0.2) + 0.35 = 0.65 but (0.1 + 0.35) + 0.2 = 0.6499999999999999.
    self.assertEqual(presorted_tree._add_run(0.1, y, idx, tied, 0, 2, 1, True)[1], -1)
    self.assertEqual(presorted_tree._add_run(0.1, y, idx, tied, 0, 2, 1, False),
                     (0.65, 2))
    # Whole numbers round the same either way: the pair is accepted.
    self.assertEqual(presorted_tree._add_run(1.0, y, idx, tied, 2, 5, 1, True), (10.0, 3))
    # Backwards (scikit-learn's reverse update): subtracts, last index first.
    self.assertEqual(presorted_tree._add_run(10.0, y, idx, tied, 4, 1, -1, True), (1.0, 3))
    # Three equal values are never taken on trust.
    three = np.array([1., 1., 1., 2., 3.], dtype=np.float32)
    self.assertEqual(presorted_tree._add_run(0.0, y, idx, three, 0, 3, 1, True)[1], -1)
    # ... unless their targets are equal too (a repeated point): any order adds the same numbers.
    repeated = np.array([0.2, 0.2, 0.2, 2.0, 3.0])
    self.assertEqual(presorted_tree._add_run(0.1, repeated, idx, three, 0, 4, 1, True),
                     (((0.1 + 0.2) + 0.2) + 0.2 + 2.0, 4))

  def test_xorshift_known_answers(self):
    # scikit-learn's our_rand_r from state 1: 1 ^ (1 << 13) = 8193, then >> 17 changes
    # nothing, then 8193 ^ (8193 << 5) = 270369.
    state = np.array([1], dtype=np.int64)
    self.assertEqual(presorted_tree._rand_int(0, 1000, state), 369)
    self.assertEqual(state[0], 270369)
    state = np.array([0], dtype=np.int64)  # 0 is replaced by 1, as there
    self.assertEqual(presorted_tree._rand_int(5, 7, state), 5 + 270369 % 2)

  def test_presort(self):
    x = np.array([[3., 1.], [1., 1.], [2., 0.], [1., 1.], [1., -0.]], dtype=np.float32)
    indices, values, row_ids, repeated = presorted_tree.presort(x)
    self.assertAllEqual(indices, [[1, 3, 4, 2, 0], [2, 4, 0, 1, 3]])
    self.assertAllEqual(values, [[1., 1., 1., 2., 3.], [0., 0., 1., 1., 1.]])
    # Rows 1 and 3 are the same point; -0.0 and 0.0 compare equal but are not the same bits.
    self.assertEqual(row_ids[1], row_ids[3])
    self.assertLen(set(row_ids[[0, 1, 2, 4]].tolist()), 4)
    self.assertAllEqual(repeated, [1, 3])


if __name__ == "__main__":
  tf.test.main()
