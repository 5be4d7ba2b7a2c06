r"""zoo-study: runs a study (a grid of training runs), resumable, and aggregates its results.

  zoo-study run --study=gin_configs/studies/posterior_correlation_cpu.gin --output_dir=/tmp/study \
      --jobs=2
  zoo-study run --study=... --output_dir=/shared/study --executor=ray --ray_address=HEAD:6379
  zoo-study commands --study=... --output_dir=/tmp/study     # one command per unfinished run
  zoo-study aggregate --output_dir=/tmp/study
  zoo-study reevaluate --study=... --output_dir=/tmp/study   # changed metrics, no training
  zoo-study udr --study=... --output_dir=/tmp/study          # UDR over each config's seeds

Every run trains (zoo-train), exports (zoo-export) and evaluates (zoo-evaluate) into
OUTPUT/runs/RUN/ and ends with OUTPUT/runs/RUN/DONE. Rerunning `zoo-study run` skips finished
runs and resumes the others; at the end OUTPUT/results.csv, summary.md, statistics.json and
plots/ are rewritten from every finished run. Each subcommand has its own flags:
`zoo-study SUBCOMMAND --help`.

Subcommands:
  run         check the study's settings, run its unfinished runs, then aggregate
  commands    print one `zoo-study run ... --only_run=RUN` command per unfinished run
  aggregate   rewrite the report from the finished runs
  reevaluate  evaluate the finished runs again with the study's (changed) evaluation settings
  udr         UDR over each configuration's finished seeds, then aggregate
"""
import importlib
import shlex
import sys

from common import cli

SUBCOMMANDS = {"run": "binaries.study_run", "commands": "binaries.study_commands",
               "aggregate": "binaries.study_aggregate", "reevaluate": "binaries.study_reevaluate",
               "udr": "binaries.study_udr"}
# The mode flags zoo-study had before its subcommands, and the subcommand of each.
OLD_MODES = {"--print_commands": "commands", "--aggregate_only": "aggregate",
             "--reevaluate": "reevaluate", "--udr": "udr"}


def _fail(message):
  print(f"zoo-study: error: {message}", file=sys.stderr)
  sys.exit(1)


def new_spelling(arguments):
  """The subcommand command line(s) for an old `zoo-study --FLAGS` command line."""
  modes = {OLD_MODES[a.split("=", 1)[0]] for a in arguments
           if a.split("=", 1)[0] in OLD_MODES and not a.lower().endswith(("=false", "=0"))}
  rest = [a for a in arguments if a.split("=", 1)[0] not in OLD_MODES]
  if "commands" in modes:
    subcommands = ["commands"]
  elif "aggregate" in modes:
    subcommands = ["aggregate"]
  else:
    subcommands = ["reevaluate" if "reevaluate" in modes else "run"]
    if "udr" in modes:
      subcommands.append("udr")
  return " && ".join(shlex.join(["zoo-study", sub] + rest) for sub in subcommands)


def run(argv=None):
  argv = list(sys.argv if argv is None else argv)
  first = argv[1] if len(argv) > 1 else None
  if first in cli.HELP_FLAGS + cli.HELPFULL_FLAGS:
    cli.print_help(__doc__.strip())
  if first is None:
    _fail(f"expected a subcommand: {', '.join(SUBCOMMANDS)} (zoo-study --help says more)")
  if first.startswith("-"):
    _fail(f"the mode of zoo-study is a subcommand, given first: {new_spelling(argv[1:])}")
  if first not in SUBCOMMANDS:
    _fail(f"unknown subcommand {first!r}; expected one of {', '.join(SUBCOMMANDS)}")
  module = importlib.import_module(SUBCOMMANDS[first])
  module.define_flags()
  program = f"zoo-study {first}"
  cli.run_main(module.main, program, argv=[program] + argv[2:])


if __name__ == "__main__":
  run()
