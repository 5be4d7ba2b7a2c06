"""tf.distribute strategies by name: default, mirrored, multi_worker, tpu."""
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def split_cpu(num_devices):
  """Presents the CPU as `num_devices` logical devices (must run before TF initializes them).

  Lets `mirrored` be exercised on a machine without accelerators.
  """
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def make_strategy(name):
  """Returns the strategy called `name`.

  mirrored: all GPUs, or all logical CPUs when there is no GPU. multi_worker: the cluster in the
  TF_CONFIG environment variable. tpu: the TPU found by the default cluster resolver.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"--strategy={name!r}: expected one of {', '.join(STRATEGIES)}")


def is_chief(strategy):
  """Whether this process writes the run's outputs (worker 0 of a multi-worker cluster)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0)
