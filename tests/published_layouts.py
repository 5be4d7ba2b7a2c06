"""Small files in the exact layouts of the published data sets, for tests (and, at full size,
for benchmarks/data_memory.py).

Each writer reproduces what the publishers wrote: the same keys, HDF5 dataset names and
chunking (h5py's automatic chunks with gzip, as the dSprites .hdf5's (23040, 2, 4) chunks show
DeepMind used), dtypes, shapes, the NYU binary matrix headers of SmallNORB and the MATLAB
variable of Cars3D; only the grids are smaller. `write_sparse_npz` writes an .npz whose stored
member claims any shape without writing its data (a sparse file), so the code that reads the
real MPI3D files can be run on the real image count.
"""
import os
import struct
import zipfile

import h5py
import numpy as np
from PIL import Image
import scipy.io

DSPRITES_STEM = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64"
SMALLNORB_CHUNKS = ("smallnorb-5x46789x9x18x6x2x96x96-training",
                    "smallnorb-5x01235x9x18x6x2x96x96-testing")


def grid_rows(sizes):
  """int64 [prod(sizes), len(sizes)]: every combination, in row-major order."""
  return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def dsprites_arrays(sizes, random_state, shuffle=True):
  """(imgs uint8 [N, 64, 64] in {0, 1}, latents_classes int64 [N, 6]) of a grid `sizes`."""
  classes = np.concatenate([np.zeros((int(np.prod(sizes)), 1), np.int64), grid_rows(sizes)], 1)
  images = (random_state.uniform(size=(len(classes), 64, 64)) < 0.3).astype(np.uint8)
  if shuffle:  # the loaders must look images up by their classes, not by position.
    order = random_state.permutation(len(classes))
    images, classes = images[order], classes[order]
  return images, classes


def write_dsprites_npz(path, images, classes, compressed=True, **extra):
  """The published .npz: 'imgs', 'latents_classes', 'latents_values' (compressed)."""
  arrays = dict(imgs=images, latents_classes=classes,
                latents_values=classes.astype(np.float64), **extra)
  (np.savez_compressed if compressed else np.savez)(path, **arrays)
  return path


def write_dsprites_hdf5(path, images, classes):
  """The published .hdf5: 'imgs' (gzip, automatic chunks), 'latents/classes', '/values'."""
  with h5py.File(path, "w") as h5:
    h5.create_dataset("imgs", data=images, chunks=True, compression="gzip")
    latents = h5.create_group("latents")
    latents.create_dataset("classes", data=classes)
    latents.create_dataset("values", data=classes.astype(np.float64))
  return path


def shapes3d_labels(sizes):
  """float64 [N, 6] label values in row-major grid order, as 3dshapes.h5 stores them."""
  # Real files store label *values*; any spacing and direction must work.
  return grid_rows(sizes) * np.array([0.1, 0.1, 0.1, 0.0714285714, 1.0, -4.2857142857]) + [
      0.0, 0.0, 0.0, 0.75, 0.0, 30.0]


def write_shapes3d_h5(path, images, labels, image_key="images", chunks=True,
                      compression="gzip"):
  with h5py.File(path, "w") as h5:
    h5.create_dataset(image_key, data=images, chunks=chunks, compression=compression)
    h5.create_dataset("labels", data=labels)
  return path


def write_mpi3d_npz(path, images, key="images", compressed=False):
  """The published MPI3D .npz: 'images' stored without compression (np.savez)."""
  (np.savez_compressed if compressed else np.savez)(path, **{key: images})
  return path


def _npy_header(shape, dtype):
  descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
  header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
  header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
  return np.lib.format.MAGIC_PREFIX + bytes([1, 0]) + struct.pack("<H", len(header)) + (
      header.encode("latin1"))


def write_sparse_npz(path, key, shape, dtype=np.uint8):
  """An .npz with one stored (zip64) member claiming `shape` whose data is a hole of zeros.

  Returns the byte offset of the array data in the file (to plant known rows). The member's
  CRC is not computed (zero): readers that map the member never check it.
  """
  name = f"{key}.npy".encode()
  header = _npy_header(shape, dtype)
  size = len(header) + int(np.prod(shape)) * np.dtype(dtype).itemsize
  zip64 = struct.pack("<HHQQ", 1, 16, size, size)
  local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, 0, 0xFFFFFFFF,
                      0xFFFFFFFF, len(name), len(zip64)) + name + zip64
  central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, 0,
                        0xFFFFFFFF, 0xFFFFFFFF, len(name), len(zip64), 0, 0, 0, 0,
                        0) + name + zip64
  central_offset = len(local) + size
  end64_offset = central_offset + len(central)
  end64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central),
                      central_offset)
  locator = struct.pack("<IIQI", 0x07064B50, 0, end64_offset, 1)
  end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), 0xFFFFFFFF, 0)
  with open(path, "wb") as f:
    f.write(local + header)
    f.seek(central_offset)
    f.write(central + end64 + locator + end)
  return len(local) + len(header)


def write_binary_matrix(path, array, magic):
  """NYU's binary matrix format: magic, ndim, max(3, ndim) sizes, elements (little-endian)."""
  dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
  with open(path, "wb") as f:
    f.write(struct.pack(f"<ii{len(dims)}i", magic, array.ndim, *dims))
    f.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
  return path


def smallnorb_halves(sizes, random_state):
  """The two halves' (dat, cat, info) of a grid sizes = (category, instance, elevation,
  azimuth, lighting); even instances go to training, odd ones to testing, rows shuffled."""
  rows = grid_rows(sizes)
  halves = []
  for parity in (0, 1):
    part = rows[rows[:, 1] % 2 == parity]
    part = part[random_state.permutation(len(part))]
    dat = random_state.randint(0, 256, size=(len(part), 2, 96, 96)).astype(np.uint8)
    cat = part[:, 0].astype(np.int32)
    info = np.column_stack([part[:, 1], part[:, 2], 2 * part[:, 3], part[:, 4]]).astype(
        np.int32)
    halves.append((dat, cat, info))
  return halves


def write_smallnorb(folder, halves):
  """The six gunzipped files of the published SmallNORB, in `folder`."""
  os.makedirs(folder, exist_ok=True)
  for chunk, (dat, cat, info) in zip(SMALLNORB_CHUNKS, halves):
    write_binary_matrix(os.path.join(folder, f"{chunk}-dat.mat"), dat, 0x1E3D4C55)
    write_binary_matrix(os.path.join(folder, f"{chunk}-cat.mat"), cat, 0x1E3D4C54)
    write_binary_matrix(os.path.join(folder, f"{chunk}-info.mat"), info, 0x1E3D4C54)
  return folder


def write_cars3d(folder, num_cars, random_state, key="im"):
  """`num_cars` MATLAB files car_<nnn>_mesh.mat with 'im' uint8 [128, 128, 3, 24, 4] and
  'mask'; returns the 'im' arrays in file-name order."""
  os.makedirs(folder, exist_ok=True)
  cars = []
  for car in range(num_cars):
    # Flat colour blocks (like renders) compress well and survive resizing recognizably.
    small = random_state.randint(0, 256, size=(8, 8, 3, 24, 4)).astype(np.uint8)
    im = np.repeat(np.repeat(small, 16, axis=0), 16, axis=1)
    scipy.io.savemat(os.path.join(folder, f"car_{car + 1:03d}_mesh.mat"),
                     {key: im, "mask": np.ones((128, 128, 24, 4), np.uint8)},
                     do_compression=True)
    cars.append(im)
  return cars


def write_scream(path, width=219, height=274, seed=0):
  """A picture in place of Munch's (the published one is 1,024 x 1,280 or so; any works)."""
  random_state = np.random.RandomState(seed)
  pixels = random_state.randint(0, 256, size=(height, width, 3)).astype(np.uint8)
  Image.fromarray(pixels).save(path)
  return path


def lanczos_64(image):
  """The resize both loaders use, for expected values: uint8 [H, W(, C)] -> [64, 64(, C)]."""
  return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((64, 64),
                                                                         Image.LANCZOS))


def write_text(path, text="not a data file\n"):
  with open(path, "w") as f:
    f.write(text)
  return path


def truncate(source, path, fraction=0.5):
  with open(source, "rb") as f:
    content = f.read()
  with open(path, "wb") as f:
    f.write(content[:int(len(content) * fraction)])
  return path


def zip_member_names(path):
  with zipfile.ZipFile(path) as archive:
    return archive.namelist()
