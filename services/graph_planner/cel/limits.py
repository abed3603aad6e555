"""Cost and size limits that keep a hostile RGD from stalling a planner.

cel-expr-python (C++ CEL) exposes no cost tracker or timeout, so Bosun bounds
the work an expression can do *before* evaluating it, and bounds what the
library functions it adds may produce:

- an expression's source is at most MAX_EXPRESSION_LENGTH characters and its
  checked AST at most MAX_AST_NODES nodes;
- comprehensions (macros `all`, `exists`, `map`, `filter`, `cel.bind`, ...)
  nest at most MAX_COMPREHENSION_DEPTH deep, and their estimated iterations
  stay under MAX_ESTIMATED_ITERATIONS: literal lists and `lists.range(<n>)`
  count with their real length, any other list (data) as 100 items. Data lists
  are bounded by the API server's object size (~1.5 MiB), not by Bosun;
- library functions refuse inputs or outputs above MAX_STRING_BYTES /
  MAX_LIST_ITEMS (`lists.range`, `random.seededString`, `json.unmarshal`,
  regex inputs and patterns);
- a rendered object (and each evaluated value) is at most MAX_RESULT_BYTES
  once serialised;
- an RGD has at most MAX_RESOURCES resources and MAX_EXPRESSIONS expressions, and
  its templates and status nest at most MAX_TEMPLATE_DEPTH levels;
- `forEach`: at most MAX_COLLECTION_ITEMS items per collection and
  MAX_COLLECTION_DIMENSIONS iterators (kro's limits).
"""

from __future__ import annotations

MAX_EXPRESSION_LENGTH = 10_000
MAX_AST_NODES = 5_000
MAX_COMPREHENSION_DEPTH = 3
MAX_ESTIMATED_ITERATIONS = 2_000_000
MAX_STRING_BYTES = 1 << 20
MAX_LIST_ITEMS = 10_000
MAX_REGEX_LENGTH = 1_000
MAX_RESULT_BYTES = 2 << 20
MAX_RESOURCES = 1_000
MAX_EXPRESSIONS = 20_000
MAX_TEMPLATE_DEPTH = 64
MAX_COLLECTION_ITEMS = 1_000
MAX_COLLECTION_DIMENSIONS = 10


class LimitError(ValueError):
    """An expression, input or result over one of the limits above."""
