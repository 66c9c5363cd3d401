"""The one writer of C array definitions and initialisers (tables, weights, test vectors)."""
from __future__ import annotations

import numpy as np


def c_array(ctype: str, name: str, values, per_line: int = 16, storage: str = "const") -> str:
    """`storage ctype name[n] = { ... };` over the flattened values, `per_line` per row."""
    flat = [str(int(v)) for v in np.asarray(values).ravel()]
    rows = [", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line)]
    body = ",\n    ".join(rows)
    return f"{storage} {ctype} {name}[{len(flat)}] = {{\n    {body}\n}};\n"


def c_initializer(values, per_line: int = 20, indent: str = "    ") -> str:
    """A C initialiser with one pair of braces per dimension of `values`."""
    values = np.asarray(values)
    if values.ndim == 1:
        rows = [", ".join(map(str, values[i:i + per_line].tolist()))
                for i in range(0, len(values), per_line)]
        return "{\n" + indent + (",\n" + indent).join(rows) + "\n" + indent[4:] + "}"
    inner = [c_initializer(v, per_line, indent + "    ") for v in values]
    return "{\n" + indent + (",\n" + indent).join(inner) + "\n" + indent[4:] + "}"
