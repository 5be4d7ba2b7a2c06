"""Codes of rendered observations, computed once per evaluation and in large encoder batches.

The metrics of one zoo-evaluate run draw their points from the same seed, and most of them the
same way (batches of 16 from `RandomState(seed)`), so they render and encode the same images
again and again; the BetaVAE and FactorVAE scores draw about 2.9 million factor rows at the
reference sizes, most of them repeats of one of dSprites' 737,280 combinations. `CachedCodes`
is a representation function that remembers the code of every factor combination it encoded
and encodes the rest in large batches, while every metric keeps its random draws.

The metrics ask for codes through `evaluation.metrics.utils.code_collector`: they add batches of
factors in their order of random draws and mark where they would have called the
representation function. The collector renders and encodes what it must and returns the codes.
Three conditions keep every code bitwise equal to what the metric's own calls would give:

* **Rendering must be a function of the factors** to be skipped. By the data set contract every
  random draw comes from the random state passed in, so a data set whose rendering leaves the
  state untouched (dSprites, Shapes3D, MPI3D, dSprites from a file) renders the same image for
  the same factors; one that draws (noisy or colour dSprites, linear_gaussian) is rendered as
  before, batch by batch, and only its encoding is batched.
* **The encoder must give every row the same code whatever batch it is in.** Checked once per
  evaluation on probe images encoded in batches of several sizes; on a machine or model where
  they differ (a CPU encoder gave other codes for a batch of one row only, so a call of a single
  row is always encoded alone), the collector makes exactly the metric's own calls.
* **Mean codes only**: sampled codes are fresh draws at every call, so they are never cached.

Memory: codes live in a table with one row per factor combination (float64, d values), filled
as they are encoded (untouched pages take no memory), used only when it fits into
`code_cache.max_megabytes`; observations waiting for the encoder are flushed every
`_FLUSH_ROWS` rows.
"""
import numpy as np

from zoo.data import ground_truth_data


# Rows per encoder call: the speed of a conv64 encoder on a CPU levels off from about 1,000.
ENCODER_BATCH_ROWS = 1024
# Rows of observations waiting for the encoder before they are encoded (64x64x3 float32 images:
# 48 MiB).
_FLUSH_ROWS = 4096
# Probe for the batch-size check: rows, and the call sizes compared with one call of all rows.
PROBE_ROWS = 256
PROBE_CALL_SIZES = (2, 3, 7, 16, 64, 100)
_PROBE_SEED = 20240


def split_calls(num_rows, rows_per_call):
  """Call sizes covering num_rows with at most rows_per_call each and never a call of one row
  (when num_rows > 1): a lone row can get another code than the same row in a batch."""
  sizes = [rows_per_call] * (num_rows // rows_per_call)
  if num_rows % rows_per_call:
    sizes.append(num_rows % rows_per_call)
  if len(sizes) > 1 and sizes[-1] == 1:
    sizes[-2] -= 1
    sizes[-1] = 2
  return sizes


def _encode_in_calls(function, observations, call_sizes):
  codes, start = [], 0
  for size in call_sizes:
    codes.append(_checked_codes(function(observations[start:start + size]), size))
    start += size
  return np.concatenate(codes, axis=0)


def _same_state(first, second):
  """Whether two RandomState.get_state() tuples are the same state."""
  return all(np.array_equal(a, b) for a, b in zip(first, second))


def _checked_codes(codes, rows):
  codes = np.asarray(codes, dtype=np.float64)
  if codes.ndim != 2 or codes.shape[0] != rows:
    raise ValueError(f"representation_function: expected codes of shape [{rows}, d] for a "
                     f"batch of {rows} observations, got shape {codes.shape}")
  return codes


class CallByCall:
  """The plain collector: renders each batch when it is added and makes exactly the calls the
  metric marks. Used for any representation function that is not a `CachedCodes`."""

  def __init__(self, representation_function):
    self._function = representation_function
    self._open = []
    self._codes = []

  def add(self, ground_truth_data, factors, random_state, call_size=None):
    """Renders factors [B, F] (one call of sample_observations_from_factors) into the open call;
    with call_size, the rows are encoded in calls of that many rows, as apply_in_batches does."""
    self._add_observations(
        ground_truth_data.sample_observations_from_factors(factors, random_state), call_size)

  def add_sample(self, ground_truth_data, num, random_state):
    """`ground_truth_data.sample(num, random_state)` into the open call; returns the factors."""
    factors, observations = ground_truth_data.sample(num, random_state)
    self._add_observations(observations, None)
    return factors

  def add_sample_observations(self, ground_truth_data, num, random_state, call_size):
    """`ground_truth_data.sample_observations(num, random_state)`, in calls of call_size."""
    self._add_observations(ground_truth_data.sample_observations(num, random_state), call_size)

  def _add_observations(self, observations, call_size):
    if call_size is None:
      self._open.append(observations)
      return
    self.end_call()
    for start in range(0, len(observations), call_size):
      self._open.append(observations[start:start + call_size])
      self.end_call()

  def end_call(self):
    """Encodes the open call's rows with one call of the representation function."""
    if not self._open:
      return
    observations = np.concatenate(self._open, axis=0)
    self._open = []
    self._codes.append(_checked_codes(self._function(observations), len(observations)))

  def codes(self):
    """Codes [rows, d] float64 of every row added, in order."""
    self.end_call()
    codes = np.concatenate(self._codes, axis=0)
    self._codes = [codes]
    return codes


class CachedCodes:
  """A representation function (mean codes) with a cache keyed on factor values.

  Calling it on observations encodes them (no cache: observations carry no factors); the
  metrics' code collectors (`code_collector()`) use the cache.

  Args:
    representation_function: observations [B, ...] -> mean codes [B, d], deterministic.
    ground_truth_data: the data set the metrics draw from.
    enabled: False makes every collector a `CallByCall` (the metrics' own calls, nothing
      cached or batched); results are the same either way.
    max_megabytes: largest code table; a data set with more factor combinations times latents
      is encoded in large batches without a cache.
    log_fn: where the one-line notes on what is cached go.
  """

  def __init__(self, representation_function, ground_truth_data, enabled=True,
               max_megabytes=512, log_fn=print):
    if not isinstance(enabled, bool):
      raise ValueError(f"code_cache.enabled: expected True or False, got {enabled!r}")
    if not (isinstance(max_megabytes, (int, float)) and not isinstance(max_megabytes, bool)
            and max_megabytes >= 0):
      raise ValueError(f"code_cache.max_megabytes: expected a number >= 0, got "
                       f"{max_megabytes!r}")
    self._function = representation_function
    self._data = ground_truth_data
    self._enabled = enabled
    self._max_bytes = max_megabytes * 2**20
    self._log_fn = log_fn
    self._checked = False
    self._batching = False
    self._table = None
    self._filled = None
    self.encoded_rows = 0  # rows that went through the encoder, for the speed benchmark

  def __call__(self, observations):
    return self._function(observations)

  def code_collector(self):
    """A collector for one metric's draws (see `evaluation.metrics.utils.code_collector`)."""
    if not self._enabled:
      return CallByCall(self._function)
    if not self._checked:
      self._check()
    if not self._batching:
      return CallByCall(self._function)
    return _CachedCollector(self)

  def _check(self):
    """Decides once whether rows can be batched and cached (module docstring)."""
    self._checked = True
    data = self._data
    if not isinstance(data, ground_truth_data.GroundTruthData):
      return  # a stand-in that may not keep the contract: the metric's own calls
    random_state = np.random.RandomState(_PROBE_SEED)
    factors = data.sample_factors(PROBE_ROWS, random_state)
    before = random_state.get_state()
    observations = data.sample_observations_from_factors(factors, random_state)
    deterministic = _same_state(before, random_state.get_state())
    whole = _checked_codes(self._function(observations), len(observations))
    for size in PROBE_CALL_SIZES:
      if not np.array_equal(_encode_in_calls(self._function, observations,
                                             split_calls(len(observations), size)), whole):
        self._log_fn(f"[zoo-evaluate] codes depend on the encoder's batch size here (batches "
                     f"of {size} differ from one of {len(observations)}): every metric encodes "
                     "its own batches, nothing is cached")
        return
    self._batching = True
    table_bytes = data.num_combinations * whole.shape[1] * 8
    if not deterministic:
      self._log_fn(f"[zoo-evaluate] {data.name} draws random numbers when it renders: codes are "
                   "encoded in large batches, not cached")
    elif table_bytes > self._max_bytes:
      self._log_fn(f"[zoo-evaluate] a code table for {data.num_combinations:,} factor "
                   f"combinations would take {table_bytes / 2**20:.0f} MiB, over "
                   f"code_cache.max_megabytes = {self._max_bytes / 2**20:g}: codes are encoded "
                   "in large batches, not cached")
    else:
      # np.zeros maps untouched pages lazily: memory grows with the combinations encoded.
      self._table = np.zeros((data.num_combinations, whole.shape[1]))
      self._filled = np.zeros(data.num_combinations, dtype=bool)
      self._sizes = np.asarray(data.factors_num_values, dtype=np.int64)

  def _encode(self, observations):
    self.encoded_rows += len(observations)
    return _encode_in_calls(self._function, observations,
                            split_calls(len(observations), ENCODER_BATCH_ROWS))

  def _keys(self, factors):
    return np.ravel_multi_index(np.asarray(factors, np.int64).T, self._sizes)


class _CachedCollector:
  """Collects rows; encodes them in large batches, through the table when there is one."""

  def __init__(self, cache):
    self._cache = cache
    self._cached = cache._table is not None  # pylint: disable=protected-access
    self._open = []  # the open call: ("factors" | "observations", rows)
    self._open_count = 0
    # Finished rows in order: ("table", keys), ("wait", index into _waiting) or ("codes", codes).
    self._pieces = []
    self._table_keys = []  # keys not looked up in the table yet
    self._table_pending = 0
    self._waiting = []  # observations of data sets that draw when they render
    self._waiting_codes = []
    self._waiting_rows = 0

  def add(self, ground_truth_data, factors, random_state, call_size=None):
    """As `CallByCall.add`. Rows of a data set that draws when it renders are rendered now,
    in the metric's order of draws; the others are only looked up or rendered later."""
    if self._cached:
      kind, rows = "factors", np.asarray(factors)
    else:
      kind = "observations"
      rows = ground_truth_data.sample_observations_from_factors(factors, random_state)
    if call_size is None:
      self._open.append((kind, rows))
      self._open_count += len(rows)
      return
    self.end_call()
    for start in range(0, len(rows), call_size):
      self._open.append((kind, rows[start:start + call_size]))
      self._open_count += len(rows[start:start + call_size])
      self.end_call()

  def add_sample(self, ground_truth_data, num, random_state):
    """As `CallByCall.add_sample` (the same draws: sample is sample_factors, then rendering)."""
    factors = ground_truth_data.sample_factors(num, random_state)
    self.add(ground_truth_data, factors, random_state)
    return factors

  def add_sample_observations(self, ground_truth_data, num, random_state, call_size):
    """As `CallByCall.add_sample_observations`."""
    factors = ground_truth_data.sample_factors(num, random_state)
    self.add(ground_truth_data, factors, random_state, call_size)

  def end_call(self):
    """Closes the open call. A call of one row is encoded alone, outside the cache."""
    if not self._open_count:
      return
    cache = self._cache
    if self._open_count == 1:
      kind, rows = self._open[0]
      if kind == "factors":  # rendering does not draw (checked): any random state will do
        rows = cache._data.sample_observations_from_factors(rows, np.random.RandomState(0))  # pylint: disable=protected-access
      cache.encoded_rows += 1
      self._pieces.append(("codes", _checked_codes(cache._function(rows), 1)))  # pylint: disable=protected-access
    else:
      for kind, rows in self._open:
        if kind == "factors":
          keys = cache._keys(rows)  # pylint: disable=protected-access
          self._pieces.append(("table", keys))
          self._table_keys.append(keys)
          self._table_pending += len(keys)
        else:
          self._pieces.append(("wait", len(self._waiting)))
          self._waiting.append(rows)
          self._waiting_rows += len(rows)
    self._open, self._open_count = [], 0
    if self._waiting_rows >= _FLUSH_ROWS:
      self._flush()
    if self._table_pending >= _FLUSH_ROWS:
      self._fill_table()

  def _flush(self):
    """Encodes the waiting observations in large batches."""
    if not self._waiting_rows:
      return
    first = len(self._waiting_codes)
    codes = self._cache._encode(np.concatenate(self._waiting[first:], axis=0))  # pylint: disable=protected-access
    start = 0
    for i in range(first, len(self._waiting)):
      rows = len(self._waiting[i])
      self._waiting_codes.append(codes[start:start + rows])
      self._waiting[i] = None
      start += rows
    self._waiting_rows = 0

  def _fill_table(self):
    """Renders and encodes the combinations not in the table yet, each once."""
    if not self._table_keys:
      return
    cache = self._cache
    keys = np.unique(np.concatenate(self._table_keys))
    self._table_keys, self._table_pending = [], 0
    missing = keys[~cache._filled[keys]]  # pylint: disable=protected-access
    # Rendered a batch at a time: large renders run out of the CPU caches.
    for begin in range(0, len(missing), ENCODER_BATCH_ROWS):
      chunk = missing[begin:begin + ENCODER_BATCH_ROWS]
      factors = np.stack(np.unravel_index(chunk, cache._sizes), axis=1)  # pylint: disable=protected-access
      observations = cache._data.sample_observations_from_factors(  # pylint: disable=protected-access
          factors, np.random.RandomState(0))
      if len(chunk) == 1:  # never a lone row: encode it twice in one batch of two
        # (the last chunk has one row only if len(missing) % 1024 == 1)
        codes = cache._encode(np.concatenate([observations] * 2, axis=0))[:1]  # pylint: disable=protected-access
      else:
        codes = cache._encode(observations)  # pylint: disable=protected-access
      cache._table[chunk] = codes  # pylint: disable=protected-access
      cache._filled[chunk] = True  # pylint: disable=protected-access

  def codes(self):
    """Codes [rows, d] float64 of every row added, in order."""
    self.end_call()
    self._fill_table()
    self._flush()
    parts = []
    for kind, payload in self._pieces:
      if kind == "table":
        parts.append(self._cache._table[payload])  # pylint: disable=protected-access
      elif kind == "wait":
        parts.append(self._waiting_codes[payload])
      else:
        parts.append(payload)
    codes = np.concatenate(parts, axis=0)
    self._pieces = [("codes", codes)]
    self._waiting, self._waiting_codes = [], []
    return codes
