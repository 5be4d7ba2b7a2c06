"""Regression trees identical to scikit-learn's, built without sorting at every node.

The boosted trees of DCI and of the downstream task are the slowest part of the metric suite,
and about 70% of the time of each scikit-learn tree goes into sorting: at every node, every
feature's values are copied and sorted again. A boosted model refits thousands of small trees
on the *same* codes (dSprites: 113 trees per stage, 100 stages, per metric), so here each
feature is sorted once per fit and the sorted order is handed down the tree by a stable
partition, which costs one pass instead of a sort.

The trees must equal scikit-learn's bit for bit (the metrics promise the reference's numbers),
and that constrains more than the splits. Scikit-learn's `DecisionTreeRegressor(
criterion="squared_error", splitter="best")` (version 1.9) adds targets in the order its
`samples` array has at that moment, so the rounding of every sum depends on that order, and
the order is whatever its introsort left behind. This module therefore replays the splitter
step by step: the same xorshift draws for the feature order, the same bookkeeping of constant
features, the same forward-or-backward running sums, the same in-place partition of the samples.

A sort's output is unique when the sorted values have no ties, so for such features the presorted
order *is* what the introsort would produce. Ties are of two kinds. Most come from repeated
points: DCI and the downstream task draw their points from a finite factor grid, so a few
percent of them repeat (10,000 draws from dSprites: ~60 repeated factor combinations, and at
32x32 pixels ~180 more pairs of combinations render the same image), and a repeated point ties
with its copy in *every* code. Two points with the same codes (bit for bit) and the same target
are interchangeable: whatever order the introsort leaves them in, every sum, split and partition
sees the same sequence of values, so such ties are ignored (`presort` numbers the distinct
rows once per fit). The other ties, between points that differ somewhere, are handled as
follows. Their order depends on the introsort's path, but it rarely matters: a pair of tied
targets added in either order usually rounds the same, which the scan checks pair by pair. Only
when it does not, when three or more such values tie, or when the node is split after sorting
by a code with such ties last (the order then carries on into the children), are the
introsorts since the last known order replayed for that node.

Supported: dense float32 inputs without NaN, unit sample weights, `max_depth` set, the other
tree settings at their defaults -- what `GradientBoostingClassifier()` uses. `is_exact()` checks
the builder against scikit-learn on small problems with ties and constant features once per
process; callers fall back to scikit-learn when it fails (another scikit-learn version).

Rows repeated with *different* targets are the exception to the savings: they tie in every
code, so every node holding them needs its introsorts replayed, which costs as much as
scikit-learn's own sorting. `fit_regression_tree` therefore hands a tree with more than
`MAX_MIXED_REPEATS` such rows to scikit-learn's builder (same tree, its speed); on codes of
trained models that is most trees of the factors with many values (docs/BENCHMARKS.md,
"Boosted trees on codes of trained models", measures how many and what it costs).

Upgrading scikit-learn. The pin is `scikit-learn>=1.9,<1.10` in setup.py's install_requires.
The replay follows scikit-learn 1.9's `sklearn/tree/_splitter.pyx` (BestSplitter, feature
draws), `_partitioner.pyx` (introsort, `partition_samples_final`), `_criterion.pyx` (MSE's
running sums), `_tree.pyx` (depth-first builder) and `_utils.pyx` (`rand_int`), and
boosted_trees.py overrides the private `GradientBoostingClassifier._fit_stage` and calls
`sklearn.ensemble._gb._update_terminal_regions`. On any other version nothing breaks silently:
`is_exact()` (and `boosted_trees.presorted_boosting_is_exact()`, which also compares whole
boosted models) grows the `check_problems()` trees both ways and compares them node by node;
if anything differs or a private name moved, the reference estimator fits plain scikit-learn
models (the reference's numbers, without the speed-up). To move to a new version: diff those
files between the versions and port the changes here; widen the pin; then check that
`is_exact()` is True, that tests/test_presorted_tree.py and tests/test_metric_dci.py pass
(trees and whole DCI models against the plain loop, repeated points included), and that
`benchmarks/metrics_speed.py --boosted_trees` runs through (it exits when the reference
estimator's numbers differ from the plain loop's on codes of trained models).
"""
import collections

import numba
import numpy as np
from sklearn import tree as sk_tree
from sklearn.tree import _tree as sk_tree_module

# Constants of scikit-learn's tree code (sklearn/tree/_partitioner.pxd, _tree.pyx, _utils.pxd).
_FEATURE_THRESHOLD = np.float32(1e-7)  # a float32 there too: the comparisons run in float32
_EPSILON = float(np.finfo(np.float64).eps)
# The splitter's seeds are drawn from [0, RAND_R_MAX).
RAND_R_MAX = 0x7FFFFFFF
_TREE_LEAF = -1
_TREE_UNDEFINED = -2
# Subarrays this short are insertion-sorted by the introsort.
_INSERTION_SORT_MAX = 15

_jit = numba.njit(nogil=True, cache=True)


@_jit
def _rand_int(low, high, state):
  """scikit-learn's `rand_int`: low + xorshift32 draw % (high - low); state is int64[1]."""
  seed = state[0]
  if seed == 0:
    seed = 1
  seed ^= (seed << 13) & 0xFFFFFFFF
  seed ^= seed >> 17
  seed ^= (seed << 5) & 0xFFFFFFFF
  state[0] = seed
  return low + (seed % (RAND_R_MAX + 1)) % (high - low)


@_jit
def _swap(values, indices, i, j):
  values[i], values[j] = values[j], values[i]
  indices[i], indices[j] = indices[j], indices[i]


@_jit
def _sift_down(values, indices, lo, start, end):
  root = start
  while True:
    child = 2 * root + 1
    largest = root
    if child < end and values[lo + largest] < values[lo + child]:
      largest = child
    if child + 1 < end and values[lo + largest] < values[lo + child + 1]:
      largest = child + 1
    if largest == root:
      return
    _swap(values, indices, lo + root, lo + largest)
    root = largest


@_jit
def _heapsort(values, indices, lo, n):
  start = (n - 2) // 2
  while True:
    _sift_down(values, indices, lo, start, n)
    if start == 0:
      break
    start -= 1
  end = n - 1
  while end > 0:
    _swap(values, indices, lo, lo + end)
    _sift_down(values, indices, lo, 0, end)
    end -= 1


@_jit
def _insertion_sort(values, indices, lo, n):
  for i in range(1, n):
    value = values[lo + i]
    index = indices[lo + i]
    j = i
    while j > 0 and values[lo + j - 1] > value:
      values[lo + j] = values[lo + j - 1]
      indices[lo + j] = indices[lo + j - 1]
      j -= 1
    values[lo + j] = value
    indices[lo + j] = index


@_jit
def _median_of_three(values, lo, n):
  a, b, c = values[lo], values[lo + n // 2], values[lo + n - 1]
  if a < b:
    if b < c:
      return b
    if a < c:
      return c
    return a
  if b < c:
    if a < c:
      return a
    return c
  return b


@_jit
def _introsort(values, indices, lo, n):
  """The three-way-partition introsort of scikit-learn's `simultaneous_sort`, same swaps.

  The subarrays left of each pivot are kept on an explicit stack instead of recursion; they are
  disjoint, so the order they are finished in does not change the result.
  """
  if n <= 1:
    return
  depth = 0
  m = n
  while m > 1:
    depth += 1
    m >>= 1
  # A task with depth budget k pushes at most k tasks, each with a smaller budget.
  budget = 2 * depth + 1
  stack_lo = np.empty(budget * (budget + 1) // 2 + 1, dtype=np.int64)
  stack_n = np.empty_like(stack_lo)
  stack_depth = np.empty_like(stack_lo)
  stack_lo[0], stack_n[0], stack_depth[0] = lo, n, 2 * depth  # maxd = 2 floor(log2 n)
  top = 1
  while top > 0:
    top -= 1
    lo, n, max_depth = stack_lo[top], stack_n[top], stack_depth[top]
    finished = False
    while n > _INSERTION_SORT_MAX:
      if max_depth <= 0:
        _heapsort(values, indices, lo, n)
        finished = True
        break
      max_depth -= 1
      pivot = _median_of_three(values, lo, n)
      i = 0
      left = 0
      right = n
      while i < right:
        if values[lo + i] < pivot:
          _swap(values, indices, lo + i, lo + left)
          i += 1
          left += 1
        elif values[lo + i] > pivot:
          right -= 1
          _swap(values, indices, lo + i, lo + right)
        else:
          i += 1
      stack_lo[top], stack_n[top], stack_depth[top] = lo, left, max_depth
      top += 1
      lo += right
      n -= right
    if not finished:
      _insertion_sort(values, indices, lo, n)


@_jit
def _replay_sorts(x, samples, sorted_idx, order_of, pending, n_pending, feature_values, start,
                  end):
  """Brings samples[start:end] into scikit-learn's order (see `_build`'s order_of, pending);
  feature_values[start:end] then holds the last pending feature's values in that order."""
  if order_of >= 0:
    samples[start:end] = sorted_idx[order_of, start:end]
  for k in range(n_pending):
    f = pending[k]
    for p in range(start, end):
      feature_values[p] = x[samples[p], f]
    _introsort(feature_values, samples, start, end - start)


@_jit
def _add_run(total, y, idx, val, first, stop, step, check_ties):
  """total + (step 1) or - (step -1) y[idx[q]] for q from `first` towards `stop`, one at a time
  as scikit-learn's Criterion.update does -> (total, number of terms).

  With check_ties, idx's order inside runs of equal `val` may differ from scikit-learn's. A run
  whose targets are all equal adds the same numbers in any order; a pair of different targets
  must round the same in both orders, else the number of terms is -1 (the caller needs the true
  order); so does a run of three or more with different targets.
  """
  sign = 1.0 if step > 0 else -1.0
  terms = 0
  q = first
  while q != stop:
    if check_ties and q + step != stop and val[q + step] == val[q]:
      last = q + step
      same_targets = y[idx[last]] == y[idx[q]]
      while last + step != stop and val[last + step] == val[q]:
        last += step
        same_targets = same_targets and y[idx[last]] == y[idx[q]]
      if same_targets:
        while q != last + step:
          total += sign * y[idx[q]]
          terms += 1
          q += step
        continue
      if last != q + step:
        return total, -1
      a = sign * y[idx[q]]
      b = sign * y[idx[last]]
      one_way = (total + a) + b
      if one_way != (total + b) + a:
        return total, -1
      total = one_way
      terms += 2
      q += 2 * step
    else:
      total += sign * y[idx[q]]
      terms += 1
      q += step
  return total, terms


@_jit
def _best_split_of_feature(idx, val, y, start, end, sum_total, weighted_n_node, best_proxy,
                           check_ties):
  """scikit-learn's scan of one sorted feature (Criterion.reset, next_p, update, proxy).

  Returns (found, proxy, pos, threshold, missing_go_to_left): found 1 when a split beats
  best_proxy, 0 when none does, -1 when check_ties finds a sum that depends on the order inside
  a tie (see `_add_run`).
  """
  found = 0
  best_pos = end
  best_threshold = 0.0
  best_missing_left = False
  sum_left = 0.0
  weighted_left = 0.0
  pos = start
  p = start
  while p < end:
    p += 1
    while p < end and val[p] <= val[p - 1] + _FEATURE_THRESHOLD:
      p += 1
    if p == end:
      continue
    # Counts are whole numbers, exact in float64 whichever way they are summed.
    if p - pos <= end - p:
      sum_left, terms = _add_run(sum_left, y, idx, val, pos, p, 1, check_ties)
      weighted_left += terms
    else:
      sum_left, terms = _add_run(sum_total, y, idx, val, end - 1, p - 1, -1, check_ties)
      weighted_left = weighted_n_node - terms
    if terms < 0:
      return -1, best_proxy, best_pos, best_threshold, best_missing_left
    weighted_right = weighted_n_node - weighted_left
    sum_right = sum_total - sum_left
    pos = p
    proxy = sum_left * sum_left / weighted_left + sum_right * sum_right / weighted_right
    if proxy > best_proxy:
      found = 1
      best_proxy = proxy
      best_pos = p
      best_threshold = np.float64(val[p - 1]) / 2.0 + np.float64(val[p]) / 2.0
      best_missing_left = (p - start) > (end - p)
  return found, best_proxy, best_pos, best_threshold, best_missing_left


@_jit
def _build(x, y, presorted_indices, presorted_values, row_ids, seed, max_depth):
  """Grows one tree exactly like scikit-learn's depth-first builder and best splitter.

  Args:
    x: float32 `[n, d]`, no NaN.
    y: float64 `[n]` targets (unit sample weights).
    presorted_indices: int64 `[d, n]`, row f = argsort of x[:, f] (any order within ties).
    presorted_values: float32 `[d, n]`, row f = x[presorted_indices[f], f].
    row_ids: int64 `[n]`, equal for points whose rows of x are equal bit for bit.
    seed: the splitter's xorshift state (the draw from the tree's RandomState).
    max_depth: >= 0.

  Returns:
    node arrays (children, feature, threshold, impurity, counts, missing-go-left, value),
    node count and depth reached.
  """
  n, d = x.shape
  # A binary tree of depth max_depth, or one with n leaves at most.
  capacity = min(2 ** (min(max_depth, 40) + 1) - 1, 2 * n - 1)
  left_child = np.full(capacity, _TREE_LEAF, dtype=np.int64)
  right_child = np.full(capacity, _TREE_LEAF, dtype=np.int64)
  feature = np.full(capacity, _TREE_UNDEFINED, dtype=np.int64)
  threshold = np.full(capacity, float(_TREE_UNDEFINED), dtype=np.float64)
  impurity_out = np.zeros(capacity, dtype=np.float64)
  node_samples = np.zeros(capacity, dtype=np.int64)
  node_weight = np.zeros(capacity, dtype=np.float64)
  missing_left = np.zeros(capacity, dtype=np.uint8)
  value = np.zeros(capacity, dtype=np.float64)

  state = np.array([seed], dtype=np.int64)
  samples = np.arange(n)
  features = np.arange(d)
  constant_features = np.empty(d, dtype=np.int64)
  sorted_idx = presorted_indices.copy()
  sorted_val = presorted_values.copy()
  feature_values = np.empty(n, dtype=np.float32)
  buffer_idx = np.empty(n, dtype=np.int64)
  buffer_val = np.empty(n, dtype=np.float32)
  goes_left = np.zeros(n, dtype=np.bool_)
  pending = np.empty(d, dtype=np.int64)
  weighted_n_samples = float(n)  # unit weights: the sum of n ones, exact

  stack_size = 2 * max_depth + 2
  st_start = np.empty(stack_size, dtype=np.int64)
  st_end = np.empty(stack_size, dtype=np.int64)
  st_depth = np.empty(stack_size, dtype=np.int64)
  st_parent = np.empty(stack_size, dtype=np.int64)
  st_is_left = np.empty(stack_size, dtype=np.bool_)
  st_impurity = np.empty(stack_size, dtype=np.float64)
  st_constants = np.empty(stack_size, dtype=np.int64)
  st_start[0], st_end[0], st_depth[0], st_parent[0] = 0, n, 0, _TREE_UNDEFINED
  st_is_left[0], st_impurity[0], st_constants[0] = False, np.inf, 0
  top = 1
  node_count = 0
  depth_seen = -1
  first = True

  while top > 0:
    top -= 1
    start, end, depth = st_start[top], st_end[top], st_depth[top]
    parent, is_left = st_parent[top], st_is_left[top]
    impurity, n_known_constants = st_impurity[top], st_constants[top]
    n_node = end - start

    # Criterion.init, in the current order of `samples`.
    sum_total = 0.0
    sq_sum_total = 0.0
    weighted_n_node = 0.0
    for p in range(start, end):
      target = y[samples[p]]
      sum_total += target
      sq_sum_total += target * target
      weighted_n_node += 1.0

    is_leaf = depth >= max_depth or n_node < 2
    if first:
      mean = sum_total / weighted_n_node
      impurity = sq_sum_total / weighted_n_node - mean * mean
      first = False
    is_leaf = is_leaf or impurity <= _EPSILON

    best_pos = end
    best_feature = 0
    best_threshold = 0.0
    best_missing_left = False
    impurity_left = np.inf
    impurity_right = np.inf
    n_total_constants = n_known_constants
    if not is_leaf:
      # ---- BestSplitter.node_split ----
      f_i = d
      n_visited = 0
      n_found_constants = 0
      n_drawn_constants = 0
      best_proxy = -np.inf
      # scikit-learn's order of samples[start:end] right now: sorted_idx[order_of, start:end]
      # (-1: samples[start:end] itself), then sorted by each of pending[:n_pending] in turn.
      order_of = -1
      n_pending = 0
      while f_i > n_total_constants and (
          n_visited < d or n_visited <= n_found_constants + n_drawn_constants):
        n_visited += 1
        f_j = _rand_int(n_drawn_constants, f_i - n_found_constants, state)
        if f_j < n_known_constants:
          features[n_drawn_constants], features[f_j] = features[f_j], features[n_drawn_constants]
          n_drawn_constants += 1
          continue
        f_j += n_found_constants
        f = features[f_j]

        # Ties between interchangeable points (same codes, same target) leave nothing to the
        # introsort's path; only the others make the order inside a tie unknown.
        has_ties = False
        for p in range(start + 1, end):
          if sorted_val[f, p] == sorted_val[f, p - 1]:
            a = sorted_idx[f, p]
            b = sorted_idx[f, p - 1]
            if row_ids[a] != row_ids[b] or y[a] != y[b]:
              has_ties = True
              break
        if has_ties:
          # scikit-learn's order inside the ties is not known yet; it is only worked out (by
          # replaying the introsorts since the last known order) if a sum depends on it.
          pending[n_pending] = f
          n_pending += 1
        else:
          order_of = f
          n_pending = 0

        if sorted_val[f, end - 1] <= sorted_val[f, start] + _FEATURE_THRESHOLD:
          features[f_j], features[n_total_constants] = features[n_total_constants], features[f_j]
          n_found_constants += 1
          n_total_constants += 1
          continue
        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]

        found, proxy, split_pos, split_threshold, split_missing_left = _best_split_of_feature(
            sorted_idx[f], sorted_val[f], y, start, end, sum_total, weighted_n_node, best_proxy,
            has_ties)
        if found < 0:
          # A sum over a tie depends on the order inside it: replay the sorts.
          _replay_sorts(x, samples, sorted_idx, order_of, pending, n_pending, feature_values,
                        start, end)
          order_of = -1
          n_pending = 0
          found, proxy, split_pos, split_threshold, split_missing_left = _best_split_of_feature(
              samples, feature_values, y, start, end, sum_total, weighted_n_node, best_proxy,
              False)
        if found > 0:
          best_proxy, best_pos, best_threshold = proxy, split_pos, split_threshold
          best_feature, best_missing_left = f, split_missing_left

      if best_pos < end:
        _replay_sorts(x, samples, sorted_idx, order_of, pending, n_pending, feature_values,
                      start, end)
        # partition_samples_final: the same swaps.
        lo = start
        hi = end
        while lo < hi:
          if np.float64(x[samples[lo], best_feature]) <= best_threshold:
            lo += 1
          else:
            hi -= 1
            samples[lo], samples[hi] = samples[hi], samples[lo]
        # reset(), update(best_pos), children_impurity(), impurity_improvement().
        if best_pos - start <= end - best_pos:
          sum_left = 0.0
          weighted_left = 0.0
          for q in range(start, best_pos):
            sum_left += y[samples[q]]
            weighted_left += 1.0
        else:
          sum_left = sum_total
          weighted_left = weighted_n_node
          for q in range(end - 1, best_pos - 1, -1):
            sum_left -= y[samples[q]]
            weighted_left -= 1.0
        weighted_right = weighted_n_node - weighted_left
        sum_right = sum_total - sum_left
        sq_sum_left = 0.0
        for q in range(start, best_pos):
          target = y[samples[q]]
          sq_sum_left += target * target
        sq_sum_right = sq_sum_total - sq_sum_left
        mean_left = sum_left / weighted_left
        mean_right = sum_right / weighted_right
        impurity_left = sq_sum_left / weighted_left - mean_left * mean_left
        impurity_right = sq_sum_right / weighted_right - mean_right * mean_right
        improvement = (weighted_n_node / weighted_n_samples) * (
            impurity - (weighted_right / weighted_n_node * impurity_right)
            - (weighted_left / weighted_n_node * impurity_left))
        is_leaf = improvement + _EPSILON < 0.0

      # Constant features found here stay known to the descendants, in this order.
      features[:n_known_constants] = constant_features[:n_known_constants]
      constant_features[n_known_constants:n_known_constants + n_found_constants] = (
          features[n_known_constants:n_known_constants + n_found_constants])
      is_leaf = is_leaf or best_pos >= end

    # Tree._add_node
    node_id = node_count
    node_count += 1
    if depth > depth_seen:
      depth_seen = depth
    impurity_out[node_id] = impurity
    node_samples[node_id] = n_node
    node_weight[node_id] = weighted_n_node
    if parent != _TREE_UNDEFINED:
      if is_left:
        left_child[parent] = node_id
      else:
        right_child[parent] = node_id
    if not is_leaf:
      feature[node_id] = best_feature
      threshold[node_id] = best_threshold
      missing_left[node_id] = best_missing_left
    value[node_id] = sum_total / weighted_n_node

    if not is_leaf:
      if depth + 1 < max_depth:
        # The children's samples, each feature still sorted: a stable partition per feature.
        for q in range(start, best_pos):
          goes_left[samples[q]] = True
        for q in range(best_pos, end):
          goes_left[samples[q]] = False
        for f in range(d):
          n_left = 0
          n_right = 0
          for q in range(start, end):
            s = sorted_idx[f, q]
            if goes_left[s]:
              sorted_idx[f, start + n_left] = s
              sorted_val[f, start + n_left] = sorted_val[f, q]
              n_left += 1
            else:
              buffer_idx[n_right] = s
              buffer_val[n_right] = sorted_val[f, q]
              n_right += 1
          sorted_idx[f, best_pos:end] = buffer_idx[:n_right]
          sorted_val[f, best_pos:end] = buffer_val[:n_right]
      for child_start, child_end, child_left, child_impurity in (
          (best_pos, end, False, impurity_right), (start, best_pos, True, impurity_left)):
        st_start[top], st_end[top], st_depth[top] = child_start, child_end, depth + 1
        st_parent[top], st_is_left[top] = node_id, child_left
        st_impurity[top], st_constants[top] = child_impurity, n_total_constants
        top += 1

  return (left_child, right_child, feature, threshold, impurity_out, node_samples, node_weight,
          missing_left, value, node_count, depth_seen)


Presorted = collections.namedtuple("Presorted", ["indices", "values", "row_ids", "repeated"])


def presort(x):
  """`Presorted(indices, values, row_ids, repeated)` of float32 `x [n, d]`, once per fit.

  indices int64 `[d, n]` and values float32 `[d, n]`: each column sorted (stable); row_ids
  int64 `[n]`: the number of each point's row among the distinct rows of x, bit for bit;
  repeated: the points whose row occurs more than once, grouped by row.
  """
  x = np.ascontiguousarray(x, dtype=np.float32)
  indices = np.argsort(x, axis=0, kind="stable").T.copy()
  values = np.take_along_axis(x, indices.T, axis=0).T.copy()
  # The bits, not the values: a row holding -0.0 where another holds 0.0 is not the same row.
  row_ids = np.unique(x.view(np.int32), axis=0, return_inverse=True)[1].reshape(-1)
  row_ids = row_ids.astype(np.int64, copy=False)
  by_row = np.argsort(row_ids, kind="stable")
  repeated = by_row[np.bincount(row_ids)[row_ids[by_row]] > 1]
  return Presorted(indices.astype(np.int64, copy=False), values, row_ids, repeated)


def mixed_repeats(presorted, y):
  """How many rows of x occur more than once with different targets `y [n]`."""
  members = presorted.repeated
  rows = presorted.row_ids[members]
  targets = np.asarray(y)[members]
  differ = (rows[1:] == rows[:-1]) & (targets[1:] != targets[:-1])
  return len(np.unique(rows[1:][differ]))


def _as_sklearn_tree(n_features, arrays):
  (left, right, feature, threshold, impurity, n_samples, weight, missing_left, value,
   node_count, depth_seen) = arrays
  nodes = np.zeros(node_count, dtype=sk_tree_module.NODE_DTYPE)
  nodes["left_child"] = left[:node_count]
  nodes["right_child"] = right[:node_count]
  nodes["feature"] = feature[:node_count]
  nodes["threshold"] = threshold[:node_count]
  nodes["impurity"] = impurity[:node_count]
  nodes["n_node_samples"] = n_samples[:node_count]
  nodes["weighted_n_node_samples"] = weight[:node_count]
  nodes["missing_go_to_left"] = missing_left[:node_count]
  tree = sk_tree_module.Tree(n_features, np.array([1], dtype=np.intp), 1)
  tree.__setstate__({"max_depth": int(depth_seen), "node_count": int(node_count), "nodes": nodes,
                     "values": value[:node_count].reshape(-1, 1, 1).copy()})
  return tree


def draw_seed(random_state):
  """The one draw a scikit-learn tree's splitter takes from its RandomState."""
  return int(random_state.randint(0, RAND_R_MAX))


class _DrawnSeed(np.random.RandomState):
  """A RandomState whose one draw (`draw_seed`) is a seed drawn before, so that scikit-learn's
  own builder grows the tree of that seed."""

  def __init__(self, seed):
    super().__init__(0)
    self._seed = seed

  def randint(self, low, high=None, size=None, dtype=int):
    if (low, high, size) != (0, RAND_R_MAX, None):
      raise TypeError(f"_DrawnSeed: unexpected draw randint({low}, {high}, size={size})")
    return self._seed


def sklearn_regression_tree(x, y, seed, max_depth=3, random_state=None):
  """`build_regression_tree`'s tree, grown by scikit-learn's own builder."""
  regressor = sk_tree.DecisionTreeRegressor(criterion="squared_error", max_depth=max_depth,
                                            random_state=_DrawnSeed(seed))
  regressor.fit(x, y, sample_weight=np.ones(len(y)), check_input=False)
  regressor.random_state = random_state
  return regressor


# A row of x that occurs with different targets (distinct factor values rendered as the same
# image, e.g. a square turned by 90 degrees) ties in every code, and the order of its copies is
# only known by replaying the introsorts of every node that holds them. With more rows like
# that, scikit-learn's own builder is the faster one: 4 ms per tree with none, 14 ms with one
# or two, 19 to 21 ms from three on, against 18 ms for scikit-learn (10,000 codes of a trained
# beta-VAE, depth 3).
MAX_MIXED_REPEATS = 2


def fit_regression_tree(x, y, presorted, seed, max_depth=3, random_state=None):
  """`build_regression_tree`, or scikit-learn's own builder where that is faster: one tree."""
  if mixed_repeats(presorted, y) > MAX_MIXED_REPEATS:
    return sklearn_regression_tree(x, y, seed, max_depth, random_state)
  return build_regression_tree(x, y, presorted, seed, max_depth, random_state)


def build_regression_tree(x, y, presorted, seed, max_depth=3, random_state=None):
  """A fitted `DecisionTreeRegressor(max_depth=max_depth, random_state=random_state)`.

  The same tree as scikit-learn's `fit(x, y, sample_weight=ones)` when its splitter draws
  `seed` (see `draw_seed`).

  Args:
    x: float32 `[n, d]` without NaN (not checked here: callers validate once per fit).
    y: float64 `[n]`.
    presorted: `presort(x)`.
    seed: the splitter's seed.
    max_depth: int.
    random_state: only stored as the regressor's parameter, as scikit-learn does.
  """
  arrays = _build(x, np.ascontiguousarray(y, dtype=np.float64), presorted.indices,
                  presorted.values, presorted.row_ids, seed, int(max_depth))
  regressor = sk_tree.DecisionTreeRegressor(criterion="squared_error", max_depth=max_depth,
                                            random_state=random_state)
  regressor.n_features_in_ = x.shape[1]
  regressor.n_outputs_ = 1
  regressor.max_features_ = x.shape[1]
  regressor.tree_ = _as_sklearn_tree(x.shape[1], arrays)
  return regressor


def trees_equal(a, b):
  """True when two fitted scikit-learn trees have the same nodes and values, bit for bit."""
  state_a, state_b = a.tree_.__getstate__(), b.tree_.__getstate__()
  return (state_a["node_count"] == state_b["node_count"]
          and state_a["max_depth"] == state_b["max_depth"]
          and np.array_equal(state_a["nodes"], state_b["nodes"])
          and np.array_equal(state_a["values"], state_b["values"]))


_exact = None


def is_exact():
  """True when this builder reproduces scikit-learn's trees here (checked once per process).

  The check problems have continuous codes with float32 ties, repeated points, a constant code,
  a code with few values and a node that becomes pure, so every path of the builder runs.
  """
  global _exact
  if _exact is None:
    _exact = _check_against_sklearn()
  return _exact


def check_problems():
  """(x, y, max_depth) problems that exercise every path of the builder."""
  rng = np.random.RandomState(2024)
  problems = []
  continuous = rng.normal(size=(600, 5)).astype(np.float32)
  continuous[rng.randint(600, size=40), 1] = continuous[0, 1]  # exact ties
  continuous[:, 3] = 0.5  # constant
  continuous[:, 4] = rng.randint(4, size=600)  # few values
  problems.append((continuous, rng.normal(size=600), 3))
  problems.append((continuous, (continuous[:, 4] > 1).astype(np.float64), 4))  # pure nodes
  problems.append((rng.randint(3, size=(50, 3)).astype(np.float32), rng.normal(size=50), 5))
  # Repeated points, as drawn from a factor grid: copies with their original's target (ties to
  # ignore), copies with another target, and one point eleven times.
  repeated = rng.normal(size=(300, 4)).astype(np.float32)
  repeated[200:260] = repeated[:60]
  repeated[260:270] = repeated[0]
  target = rng.normal(size=300)
  target[200:230] = target[:30]
  problems.append((repeated, target, 4))
  problems.append((rng.normal(size=(7, 2)).astype(np.float32), rng.normal(size=7), 3))
  return problems


def _check_against_sklearn():
  try:
    for index, (x, y, max_depth) in enumerate(check_problems()):
      expected = sk_tree.DecisionTreeRegressor(
          criterion="squared_error", max_depth=max_depth, random_state=index).fit(
              x, y, sample_weight=np.ones(len(y)))
      seed = draw_seed(np.random.RandomState(index))
      if not (trees_equal(expected, build_regression_tree(x, y, presort(x), seed, max_depth))
              and trees_equal(expected, sklearn_regression_tree(x, y, seed, max_depth))):
        return False
  except (AttributeError, TypeError, ValueError, KeyError):
    return False
  return True
