"""The gin edge: where gin configures the library, for the binaries and the studies.

Below this layer nothing reads gin state: zoo/, export/ and evaluation/ take plain arguments.
Here, `configurables` registers every gin name a gin file or binding may use, with the
library's parameters and defaults, and turns the parsed configuration into the library's
arguments; `training` runs zoo-train's loop from gin, with the callbacks of
`image_summaries.*` and `metric_summaries.*`. Library errors name the library's parameters;
this layer rewrites them as the gin names a binding used (`in_gin_names`).
"""
