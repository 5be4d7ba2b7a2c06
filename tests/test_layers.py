"""The import rule of docs/ARCHITECTURE.md, checked on the source: layers only point down.

The folders are the layers, lowest first: `common/` (utilities every layer uses); `zoo/` (data,
networks and posterior families; models; training, the callbacks and the `zoo` package's
public API); `export/`; `evaluation/`; `gin_edge/` (every gin configurable); `studies/`;
`binaries/` (the console scripts). A module may import its own layer and the ones below, never
one above, and only binaries import project modules inside functions (to keep `--help` fast),
never to dodge a cycle. Relative imports are read as the modules they name, and an import by
name at run time (`importlib.import_module`, `__import__`) counts as one inside a function.
Every top-level package of the checkout, which is what the wheel ships, has a layer.

Gin stays at the edge: below `gin_edge/`, no module reads gin state (no configurable, no
binding lookup, no operative config). They may parse gin text (`gin.config_parser`, how older
runs' operative_config.gin records are read), and `common.cli` parses gin files for the layers
above, writing gin state it never reads.
"""
import ast
import os

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "gin_configs", "zoo", "export", "evaluation", "gin_edge", "studies",
            "binaries")

# Module name prefix -> layer; the longest matching prefix decides. Inside zoo/ the subpackages
# are layers of their own (data, networks and posteriors below models, models below training).
LAYERS = {
    "common": 0,
    "gin_configs": 0,  # no code: the shipped gin files (package data)
    "zoo.data": 1, "zoo.networks": 1, "zoo.posteriors": 1,
    "zoo.models": 2,
    "zoo": 3, "zoo.training": 3, "zoo.callbacks": 3,
    "export": 4,
    "evaluation": 5,
    "gin_edge": 6,
    "studies": 7,
    "binaries": 8,
}
BINARY_LAYER = LAYERS["binaries"]
GIN_EDGE_LAYER = LAYERS["gin_edge"]
LAYER_NAMES = ["common", "data/networks/posteriors", "models", "training/callbacks/zoo",
               "export", "evaluation", "gin_edge", "studies", "binaries"]
# What modules below the gin edge may use of gin: its text parser everywhere, and what
# common.cli's parse_gin writes gin state with (common.gin_files registers the file reader that
# finds shipped gin files for `include` lines: gin's `config` module, for register_file_reader).
GIN_TEXT_PARSER = "gin.config_parser"
GIN_WRITERS = {"common.cli": {"add_config_file_search_path", "parse_config_file",
                              "parse_config", "finalize"},
               "common.gin_files": {"config"}}
# Modules of one layer that must not import each other either (siblings, not a stack).
SIBLINGS = ("zoo.data", "zoo.networks", "zoo.posteriors")


def module_name(path):
  relative = os.path.relpath(path, REPO)[:-len(".py")].replace(os.sep, ".")
  return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def package_of(path):
  """The package a source file is in: itself for an `__init__.py`."""
  name = module_name(path)
  return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def layer_of(name):
  matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
  return LAYERS[max(matches, key=len)] if matches else None


def project_sources():
  for package in PACKAGES:
    for root, _, files in os.walk(os.path.join(REPO, package)):
      for name in sorted(files):
        if name.endswith(".py"):
          yield os.path.join(root, name)


# Calls that import a module named at run time.
DYNAMIC_IMPORTS = ("importlib.import_module", "import_module", "__import__",
                   "importlib.__import__")


def _absolute(module, level, package):
  """The module a `from <level dots><module> import ...` in `package` names."""
  if not level:
    return module
  parts = package.split(".")
  base = parts[:len(parts) - level + 1] if level > 1 else parts
  return ".".join(base + ([module] if module else []))


def imports(tree, package=""):
  """(imported module name, line, inside a function) for every import statement; a dynamic
  import (`importlib.import_module(...)`) is `("<dynamic>", line, True)`.

  Args:
    tree: a module's AST.
    package: the package the module is in (for relative imports), e.g. `zoo.models`.
  """
  found = []

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
      if isinstance(child, ast.Import):
        found.extend((alias.name, child.lineno, in_function) for alias in child.names)
      elif isinstance(child, ast.ImportFrom):
        # `from zoo import data` imports zoo.data: name the module, not only the package.
        module = _absolute(child.module, child.level, package)
        found.extend((f"{module}.{alias.name}", child.lineno, in_function)
                     for alias in child.names)
      elif isinstance(child, ast.Call) and ast.unparse(child.func) in DYNAMIC_IMPORTS:
        found.append(("<dynamic>", child.lineno, True))
      visit(child, inside)

  visit(tree, False)
  return found


def project_module(name):
  """The project module an import names (`zoo.data.pipeline`, ...), or None."""
  if name.split(".")[0] not in PACKAGES:
    return None
  parts = name.split(".")
  while parts:  # `from zoo.models import infogan` names a module; `... import InfoGAN` does not.
    candidate = os.path.join(REPO, *parts)
    if os.path.isdir(candidate) or os.path.isfile(candidate + ".py"):
      return ".".join(parts)
    parts.pop()
  return None


def gin_uses(tree):
  """(what of gin, line) for every use: `gin.<name>` attributes of an imported `gin`, and the
  modules `from gin import ...` / `import gin.x` name."""
  found = []
  gin_names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name == "gin":
          gin_names.add(alias.asname or "gin")
        elif alias.name.startswith("gin."):
          found.append((alias.name, node.lineno))
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gin":
      found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
  for node in ast.walk(tree):
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id in gin_names):
      found.append((f"gin.{node.attr}", node.lineno))
    elif isinstance(node, ast.Name) and node.id in gin_names and not isinstance(
        getattr(node, "ctx", None), ast.Store):
      pass  # the bare name appears in its attribute uses, found above
  return found


def gin_violations(source, tree):
  """What `source` (a module below the gin edge) uses of gin that reads or registers state."""
  allowed = GIN_WRITERS.get(source, set())
  return [(use, line) for use, line in gin_uses(tree)
          if use != GIN_TEXT_PARSER and not (use.startswith("gin.") and use[4:] in allowed)]


class ImportRuleTest(tf.test.TestCase):

  def test_every_top_level_package_has_a_layer(self):
    found = {name for name in os.listdir(REPO)
             if os.path.isfile(os.path.join(REPO, name, "__init__.py"))}
    self.assertEqual(found, set(PACKAGES))

  def test_every_import_points_down(self):
    violations = []
    for path in project_sources():
      source = module_name(path)
      source_layer = layer_of(source)
      self.assertIsNotNone(source_layer, f"{source} has no layer in this test's LAYERS")
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
      for name, line, in_function in imports(tree, package_of(path)):
        if name == "<dynamic>":
          if source_layer != BINARY_LAYER:
            violations.append(f"{os.path.relpath(path, REPO)}:{line} imports a module named "
                              "at run time")
          continue
        target = project_module(name)
        if target is None:
          continue
        where = f"{os.path.relpath(path, REPO)}:{line} imports {target}"
        target_layer = layer_of(target)
        if target_layer > source_layer:
          violations.append(f"{where} ({LAYER_NAMES[target_layer]} is above "
                            f"{LAYER_NAMES[source_layer]})")
        for sibling in SIBLINGS:
          if (source.startswith(sibling) and target.split(".")[:2] != sibling.split(".")
              and any(target.startswith(other) for other in SIBLINGS)):
            violations.append(f"{where} (sibling layers import each other)")
        if in_function and source_layer != BINARY_LAYER:
          violations.append(f"{where} inside a function")
    self.assertEmpty(violations, "\n".join(violations))

  def test_nothing_below_the_gin_edge_reads_gin_state(self):
    violations = []
    for path in project_sources():
      source = module_name(path)
      if layer_of(source) >= GIN_EDGE_LAYER:
        continue
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
      violations += [f"{os.path.relpath(path, REPO)}:{line} uses {use}"
                     for use, line in gin_violations(source, tree)]
    self.assertEmpty(violations, "\n".join(violations))

  def test_the_gin_rule_sees_a_violation(self):
    tree = ast.parse("import gin\nfrom gin import config_parser\n"
                     "@gin.configurable('x')\ndef f(a=1):\n  return gin.query_parameter('y.a')\n"
                     "gin.parse_config('x.a = 2')\n")
    self.assertEqual(sorted(gin_violations("zoo.models.x", tree)),
                     [("gin.configurable", 3), ("gin.parse_config", 6),
                      ("gin.query_parameter", 5)])
    self.assertEqual(gin_violations("common.cli", tree),
                     [("gin.configurable", 3), ("gin.query_parameter", 5)])

  def test_the_loader_needs_only_tensorflow_and_numpy(self):
    path = os.path.join(REPO, "export", "loader.py")
    with open(path, encoding="utf-8") as f:
      names = {name.split(".")[0] for name, _, _ in imports(ast.parse(f.read()))}
    self.assertEqual(names - {"json", "os", "math"}, {"numpy", "tensorflow"})

  def test_the_rule_sees_a_violation(self):
    # The checker itself: an upward import, a function-local one, relative ones and one by
    # name at run time are all found.
    tree = ast.parse("from evaluation import metrics\n"
                     "def f():\n  from zoo import models\n"
                     "from ..training import loop\n"
                     "from . import vae\n"
                     "from .. import data\n"
                     "x = importlib.import_module('evaluation.metrics.mig')\n")
    found = [(project_module(name) if name != "<dynamic>" else name, in_function)
             for name, _, in_function in imports(tree, "zoo.models")]
    self.assertEqual(found, [("evaluation.metrics", False), ("zoo.models", True),
                             ("zoo.training.loop", False), ("zoo.models.vae", False),
                             ("zoo.data", False), ("<dynamic>", True)])
    self.assertGreater(layer_of("zoo.training.loop"), layer_of("zoo.models"))
    self.assertGreater(layer_of("evaluation.metrics"), layer_of("zoo.models.vae"))
    self.assertEqual(layer_of("binaries.train_main"), BINARY_LAYER)
    self.assertLess(layer_of("evaluation.metrics.mig"), GIN_EDGE_LAYER)
    self.assertGreater(layer_of("zoo"), layer_of("zoo.models"))
    self.assertEqual(layer_of("studies.report.table"), LAYERS["studies"])


if __name__ == "__main__":
  tf.test.main()
