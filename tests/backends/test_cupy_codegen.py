"""The CUDA kernel generator's logic, without CuPy, nvcc or a GPU.

Oracles: hand-written expected C text for small programs (what each step must read),
the op registry (every elementwise op has an expression), hand-derived broadcast offsets
(a contiguous (2,3,4) array's element (i,j,k) sits at 12i + 4j + k), and the cache
contract stated in the codegen's docstring (shape-free signature for ElementwiseKernel,
full key for the standalone source), and hand-sliced sub-programs for the split by output
shape. Compiling and running the generated code is test_cupy_codegen_nvcc.py's concern.
"""

import numpy as np
import pytest

from graphgrad.backends import cuda_codegen as cg
from graphgrad.backends import cuda_standalone as cs
from graphgrad.errors import BackendError
from graphgrad.ir.fused import FusedProgram, Step, split_by_output_shape
from graphgrad.ops import REGISTRY

F32, F64, I64, B = (np.dtype(d) for d in ("float32", "float64", "int64", "bool"))


def program(inputs, steps, outputs):
    """steps: (op, args, attrs, shape, dtype)."""
    return FusedProgram(tuple((tuple(s), np.dtype(d)) for s, d in inputs),
                        tuple(Step(op, tuple(a), dict(at), tuple(s), np.dtype(d))
                              for op, a, at, s, d in steps), tuple(outputs))


def bench(dtype=F32, shape=(4, 8), tanh_scale=0.5):
    """tanh(c*x) * sigmoid(x) + 0.1*x*x with the constants as 0-d inputs."""
    return program(
        [(shape, dtype), ((), dtype), ((), dtype)],
        [("mul", (1, 0), {}, shape, dtype), ("tanh", (3,), {}, shape, dtype),
         ("sigmoid", (0,), {}, shape, dtype), ("mul", (4, 5), {}, shape, dtype),
         ("mul", (2, 0), {}, shape, dtype), ("mul", (7, 0), {}, shape, dtype),
         ("add", (6, 8), {}, shape, dtype)],
        [9])


def test_every_elementwise_op_has_an_expression():
    elementwise = {n for n, op in REGISTRY.items() if op.elementwise and not op.random}
    assert elementwise - set(cg.EXPRESSIONS) == set()


def test_body_composes_one_statement_per_step_in_float32():
    assert cg.body(bench()).splitlines() == [
        "const float r3 = (r1 * r0);",
        "const float r4 = tanhf(r3);",
        "const float r5 = gg_sigmoid(r0);",
        "const float r6 = (r4 * r5);",
        "const float r7 = (r2 * r0);",
        "const float r8 = (r7 * r0);",
        "const float r9 = (r6 + r8);",
        "o0 = r9;",
    ]


def test_float64_uses_double_math_functions():
    code = cg.body(bench(F64))
    assert "const double r4 = tanh(r3);" in code and "tanhf" not in code


def test_kernel_parts_name_params_by_register_and_type():
    p = program([((5,), F32), ((5,), I64)],
                [("cast", (1,), {"dtype": F32}, (5,), F32), ("lt", (0, 2), {}, (5,), B),
                 ("where", (3, 0, 2), {}, (5,), F32)],
                [4, 3])
    parts = cg.kernel_parts(p)
    assert parts.in_params == "float32 r0, int64 r1"
    assert parts.out_params == "float32 o0, bool o1"
    assert parts.body.splitlines() == [
        "const float r2 = static_cast<float>(r1);",
        "const bool r3 = (r0 < r2);",
        "const float r4 = (r3 ? r0 : r2);",
        "o0 = r4;",
        "o1 = r3;",
    ]
    assert parts.name.startswith("gg_fused_cast_lt_where_")
    assert parts.name.isidentifier()


def test_preamble_holds_only_the_helpers_the_body_calls():
    assert "gg_sigmoid" in cg.kernel_parts(bench()).preamble
    plain = program([((3,), F32)], [("exp", (0,), {}, (3,), F32)], [1])
    assert cg.kernel_parts(plain).preamble == ""


@pytest.mark.parametrize("dtype, ctype, cupy_name", [
    (F32, "float", "float32"), (F64, "double", "float64"), (I64, "long long", "int64"),
    (B, "bool", "bool")])
def test_dtype_mapping(dtype, ctype, cupy_name):
    assert cg.C_TYPES[dtype] == (ctype, cupy_name)
    assert cg.c_type(dtype) == ctype


def test_unsupported_dtype_and_op_are_backend_errors():
    with pytest.raises(BackendError, match="float16"):
        cg.c_type(np.float16)
    with pytest.raises(BackendError, match="no_such_op"):
        cg.expression("no_such_op", ["r0"], [F32], F32, {})
    with pytest.raises(BackendError, match="takes floats"):
        cg.expression("tanh", ["r0"], [I64], I64, {})


@pytest.mark.parametrize("value, dtype, text", [
    (0.1, F32, "((float)0.1)"), (0.1, F64, "((double)0.1)"), (1e-08, F32, "((float)1e-08)"),
    (3, I64, "3LL"), (True, B, "true"), (float("inf"), F32, "((float)(1.0 / 0.0))"),
    (float("-inf"), F64, "((double)(-1.0 / 0.0))"), (float("nan"), F64, "((double)(0.0 / 0.0))")])
def test_literals_convert_like_numpy_scalars(value, dtype, text):
    assert cg.literal(value, dtype) == text


@pytest.mark.parametrize("exponent, expr", [
    (2, "(r0 * r0)"), (2.0, "(r0 * r0)"), (3, "(r0 * r0 * r0)"), (0.5, "sqrtf(r0)"),
    (1, "r0"), (-1, "(((float)1.0) / r0)"), (-1.5, "powf(r0, ((float)-1.5))")])
def test_pow_scalar_shortcuts(exponent, expr):
    assert cg.expression("pow_scalar", ["r0"], [F32], F32, {"exponent": exponent}) == expr


def test_pow_scalar_on_integers_uses_integer_power():
    assert cg.expression("pow_scalar", ["r0"], [I64], I64, {"exponent": 3}) == \
        "((long long)gg_ipow(r0, 3LL))"


def test_clamp_with_one_or_both_bounds():
    both = cg.expression("clamp", ["r0"], [F32], F32, {"min": -1.0, "max": 2.0})
    assert both == "gg_min(gg_max(r0, ((float)-1.0)), ((float)2.0))"
    assert cg.expression("clamp", ["r0"], [I64], I64, {"min": None, "max": 5}) == \
        "gg_min(r0, 5LL)"


def test_comparisons_and_logic_produce_bool_registers():
    p = program([((2,), I64), ((2,), I64)],
                [("ge", (0, 1), {}, (2,), B), ("logical_not", (2,), {}, (2,), B)], [3])
    assert cg.body(p).splitlines()[:2] == ["const bool r2 = (r0 >= r1);",
                                           "const bool r3 = (!r2);"]


def test_signature_ignores_shapes_but_not_dtypes_or_attrs():
    assert cg.signature(bench(shape=(4, 8))) == cg.signature(bench(shape=(1000,)))
    assert cg.kernel_parts(bench(shape=(4, 8))) is cg.kernel_parts(bench(shape=(1000,)))
    assert cg.signature(bench(F32)) != cg.signature(bench(F64))

    def clamp(lo):
        return program([((3,), F32)], [("clamp", (0,), {"min": lo, "max": None}, (3,), F32)],
                       [1])
    # FusedProgram equality ignores attrs; the kernel caches must not.
    assert clamp(0.0) == clamp(1.0)
    assert cg.signature(clamp(0.0)) != cg.signature(clamp(1.0))
    assert cg.kernel_parts(clamp(0.0)).name != cg.kernel_parts(clamp(1.0)).name


def test_raw_source_is_cached_by_the_full_key():
    assert cs.raw_source(bench(shape=(4, 8))) is cs.raw_source(bench(shape=(4, 8)))
    assert cs.raw_source(bench(shape=(4, 8))).name != cs.raw_source(bench(shape=(8, 4))).name


@pytest.mark.parametrize("shape, full, offset", [
    ((2, 3, 4), (2, 3, 4), "k0 * 12LL + k1 * 4LL + k2"), ((3, 1), (3, 4), "k0"),
    ((4,), (3, 4), "k1"), ((), (3, 4), "0"), ((1, 4), (2, 3, 4), "k2"),
    ((2, 1, 4), (2, 3, 4), "k0 * 4LL + k2")])
def test_broadcast_offsets(shape, full, offset):
    assert cs._offset(shape, full) == offset


def sigmoid_bias():
    """Outputs sigmoid(b) of shape (4,) and x * sigmoid(b) of shape (3, 4)."""
    return program([((3, 4), F32), ((4,), F32)],
                   [("sigmoid", (1,), {}, (4,), F32), ("mul", (0, 2), {}, (3, 4), F32)],
                   [3, 2])


def test_standalone_source_stores_smaller_outputs_once():
    p = sigmoid_bias()
    assert cs.iteration_shape(p) == (3, 4)
    code = cs.raw_source(p).code
    assert "out0[k0 * 4LL + k1] = o0;" in code
    assert "if (k0 == 0) out1[k1] = o1;" in code


def test_split_by_output_shape_recomputes_shared_steps():
    parts = split_by_output_shape(sigmoid_bias())
    assert [(ins, outs) for _, ins, outs in parts] == [((0, 1), (0,)), ((1,), (1,))]
    big, small = parts[0][0], parts[1][0]
    assert cg.body(big).splitlines() == ["const float r2 = gg_sigmoid(r1);",
                                         "const float r3 = (r0 * r2);", "o0 = r3;"]
    assert cg.body(small).splitlines() == ["const float r1 = gg_sigmoid(r0);", "o0 = r1;"]
    assert small.input_types == (((4,), F32),)


def test_split_separates_updates_of_unrelated_shapes():
    """Two SGD updates sharing a scalar learning rate: shapes (2, 3) and (5,) never broadcast."""
    p = program([((), F32), ((2, 3), F32), ((2, 3), F32), ((5,), F32), ((5,), F32)],
                [("mul", (2, 0), {}, (2, 3), F32), ("sub", (1, 5), {}, (2, 3), F32),
                 ("mul", (4, 0), {}, (5,), F32), ("sub", (3, 7), {}, (5,), F32)],
                [6, 8])
    parts = split_by_output_shape(p)
    assert [(ins, outs) for _, ins, outs in parts] == [((0, 1, 2), (0,)), ((0, 3, 4), (1,))]
    assert [s.op for s in parts[1][0].steps] == ["mul", "sub"]
    assert parts[1][0].steps[0].args == (2, 0)


def test_split_keeps_one_shape_programs_whole():
    p = bench()
    assert split_by_output_shape(p) == [(p, (0, 1, 2), (0,))]


def test_raw_source_declares_global_and_optional_host_entry():
    raw = cs.raw_source(bench(), host_entry=True)
    assert f'extern "C" __global__ void {raw.name}(' in raw.source
    assert f'extern "C" void {raw.name}_host(' in raw.source
    assert "_host(" not in cs.raw_source(bench()).source
    assert raw.source.count("gg_sigmoid(float x)") == 1


def test_translation_unit_defines_each_helper_and_kernel_once():
    a, b = cs.raw_source(bench(F32)), cs.raw_source(bench(F64))
    unit = cs.translation_unit([a, b, a])
    assert unit.count("inline double gg_sigmoid") == 1
    assert unit.count(f"void {a.name}(") == 1 and b.name in unit
