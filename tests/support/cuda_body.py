"""Run the body of a ``cupy.ElementwiseKernel`` on the CPU, compiled by the system C++ compiler.

A fused operation's CUDA source (:class:`tinybcnn.fused.Elementwise`) never runs in CI, which
has no GPU. Its body is plain C++ arithmetic, though, so it is compiled here inside the loop
CuPy wraps it in, written as CuPy v14.2.0 writes it (``cupy/_core/_kernel.pyx``,
``_get_simple_elementwise_kernel_code`` and ``_ArgInfo.get_param_c_type``):

* ``CUPY_FOR(i, _ind.size())`` is ``for (ptrdiff_t i = ...)`` (``cupy/_core/include/cupy/
  carray.cuh``), so ``i`` is a ``ptrdiff_t`` here too;
* a scalar parameter is ``const <ctype> name`` with the C type of its dtype
  (``cupy/_core/_scalar.pyx``, ``_typenames_base``), ``T`` a ``typedef`` of the output's;
* an output ``T name`` is the reference ``T &name = _raw_name[_ind.get()];``;
* CuPy casts each Python scalar to its parameter's dtype (``CScalar.apply_dtype``, NumPy's
  assignment casting): here a float travels as its exact hexadecimal form and is cast by C,
  both rounding to nearest.

One output, scalar inputs only (what the package's fused operations use).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

# cupy/_core/_scalar.pyx, _typenames_base (v14.2.0)
CTYPES = {"float64": "double", "float32": "float", "int64": "long long", "int32": "int",
          "uint64": "unsigned long long", "uint32": "unsigned int", "bool": "bool"}


def compiler() -> list[str] | None:
    """The command that compiles C++ here, or None where there is none."""
    for name, flags in (("g++", []), ("c++", []), ("gcc", ["-x", "c++"]), ("cc", ["-x", "c++"])):
        path = shutil.which(name)
        if path:
            return [path, *flags]
    return None


def _params(text: str) -> list[tuple[str, str]]:
    """``"uint64 key, T scale"`` as ``[("uint64", "key"), ("T", "scale")]``."""
    out = []
    for part in text.split(","):
        words = part.split()
        if len(words) != 2:        # "raw" arrays and keywords: not modelled here
            raise ValueError(f"parameter {part!r} is not '<type> <name>'")
        out.append((words[0], words[1]))
    return out


def _source(in_params: str, out_params: str, body: str, out_dtype: np.dtype) -> str:
    (out_type, out_name), = _params(out_params)
    lines = ["#include <cstddef>", "#include <cstdio>", "#include <cstdlib>",
             f"typedef {CTYPES[np.dtype(out_dtype).name]} T;",
             "int main(int argc, char **argv) {",
             "  const ptrdiff_t n = (ptrdiff_t)strtoll(argv[1], 0, 10);"]
    for k, (typ, name) in enumerate(_params(in_params), start=2):
        ctype = "T" if typ == "T" else CTYPES[typ]
        if ctype in ("float", "double", "T"):
            value = f"({ctype})strtod(argv[{k}], 0)"
        elif ctype == "bool":
            value = f"atoi(argv[{k}]) != 0"
        elif ctype.startswith("unsigned"):
            value = f"({ctype})strtoull(argv[{k}], 0, 10)"
        else:
            value = f"({ctype})strtoll(argv[{k}], 0, 10)"
        lines.append(f"  const {ctype} {name} = {value};")
    out_ctype = "T" if out_type == "T" else CTYPES[out_type]
    lines += [f"  {out_ctype} *_raw_{out_name} = ({out_ctype} *)malloc(sizeof({out_ctype}) * "
              "(n > 0 ? n : 1));",
              "  for (ptrdiff_t i = 0; i < n; i++) {",
              f"    {out_ctype} &{out_name} = _raw_{out_name}[i];",
              body,
              "  }",
              f"  fwrite(_raw_{out_name}, sizeof({out_ctype}), n, stdout);",
              "  return 0;", "}"]
    return "\n".join(lines) + "\n"


class CompiledBody:
    """The body of an elementwise kernel as a CPU program (see the module's docstring).

    ``CompiledBody(op, dtype, folder)(n, *args)`` gives the ``n`` outputs the kernel would
    give for the scalar ``args`` (in ``op.in_params``' order), as a NumPy array of ``dtype``.
    """

    def __init__(self, in_params: str, out_params: str, body: str, dtype: np.dtype,
                 folder: Path) -> None:
        command = compiler()
        if command is None:
            raise RuntimeError("no C++ compiler")
        self.dtype = np.dtype(dtype)
        self.source = _source(in_params, out_params, body, self.dtype)
        folder.mkdir(parents=True, exist_ok=True)
        src, self.program = folder / "body.cpp", folder / "body"
        src.write_text(self.source)
        done = subprocess.run([*command, "-O2", "-fno-exceptions", "-o", str(self.program),
                               str(src)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"the kernel body does not compile:\n{done.stderr}\n"
                               f"{self.source}")

    def __call__(self, n: int, *args: object) -> np.ndarray:
        argv = [str(int(n))]
        for a in args:
            if isinstance(a, bool):
                argv.append(str(int(a)))
            elif isinstance(a, float):
                argv.append(a.hex())           # exact: strtod reads C99 hex floats
            else:
                argv.append(str(int(a)))
        done = subprocess.run([str(self.program), *argv], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return np.frombuffer(done.stdout, dtype=self.dtype).copy()
