"""What each operation of a forward pass computes and moves: the roofline's per-op inputs.

One batch-1 forward in eval mode is watched twice over: forward hooks on every
leaf module see its input and output tensors (its weights are its own
parameters and buffers), and a :class:`~torch.overrides.TorchFunctionMode`
sees the functional calls made outside leaf modules (``torch.cat``, ``+``,
``F.interpolate`` in a decoder's ``forward``). FLOPs come from fvcore's
per-module count (:mod:`segbench.measure.flops`): a leaf module's own; a
non-leaf module's share not in its children is split over the functional calls
it made, by their output sizes. Every tensor is counted once at the run's
precision; views and aliases (``reshape``, ``nn.Identity``) move nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

#: Bytes per element of a floating tensor at each precision (integer tensors keep their own size).
ITEMSIZE = {"fp32": 4, "fp16": 2, "bf16": 2}


@dataclass(frozen=True)
class Op:
    """One operation of a batch-1 forward: its FLOPs (2 per multiply-add), and the bytes it reads and writes.

    ``activation_bytes`` (inputs and outputs) grow with the batch; ``weight_bytes`` are read once per batch.
    """

    name: str
    flops: float
    activation_bytes: int
    weight_bytes: int


@dataclass(frozen=True)
class Workload:
    """The operations of one forward pass at batch 1, and what the whole model moves at the least."""

    ops: tuple[Op, ...]
    #: Every parameter and buffer of the model, once, at the run's precision.
    weight_bytes: int
    #: The model's input and output (its logits), per image.
    io_bytes: int
    precision: str
    flops: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flops", float(sum(op.flops for op in self.ops)))

    def to_dict(self) -> dict[str, Any]:
        """For the cell record: ops as compact ``[name, flops, activation_bytes, weight_bytes]`` rows."""
        data = asdict(self)
        data["ops"] = [[op.name, op.flops, op.activation_bytes, op.weight_bytes] for op in self.ops]
        return data


def _tensors(value: Any) -> list[torch.Tensor]:
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


class _Recorder:
    """The bookkeeping of one capture: each op's tensors, by the module that ran it."""

    def __init__(self, model: nn.Module, precision: str) -> None:
        self.itemsize = ITEMSIZE[precision]
        self.weights = {id(t) for t in [*model.parameters(), *model.buffers()]}
        self.stack: list[str] = []
        self.leaf_depth = 0
        #: (owner module, name, weight bytes, activation bytes, output elements, is_leaf) per recorded op.
        self.ops: list[tuple[str, str, int, int, int, bool]] = []
        self.calls: dict[str, int] = defaultdict(int)
        self.busy = False

    def nbytes(self, t: torch.Tensor) -> int:
        size = self.itemsize if t.is_floating_point() else t.element_size()
        return t.numel() * size

    def record(self, owner: str, name: str, inputs: list[torch.Tensor], outputs: list[torch.Tensor],
               versions: dict[int, int], extra_weights: list[torch.Tensor], leaf: bool) -> None:
        """Add one op: inputs read once, outputs written once; an output that is an unchanged input
        (a view, an alias) is not written, and an op that only aliases moves nothing."""
        storages = {_storage(t) for t in inputs}
        written = [t for t in outputs
                   if _storage(t) not in storages or versions.get(id(t), t._version) != t._version]
        if not written:
            if leaf:
                self.ops.append((owner, name, 0, 0, 0, True))  # keeps the module's FLOPs, if any
            return
        weights, activations = sum(self.nbytes(t) for t in extra_weights), 0
        for t in _unique(inputs):
            if id(t) in self.weights:
                weights += self.nbytes(t)
            else:
                activations += self.nbytes(t)
        activations += sum(self.nbytes(t) for t in _unique(written))
        self.ops.append((owner, name, weights, activations, sum(t.numel() for t in written), leaf))


class _FunctionalCalls(TorchFunctionMode):
    """Records the torch calls made outside leaf modules (inside one, its hooks account for them)."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        rec = self.recorder
        if rec.busy or rec.leaf_depth or not rec.stack:
            return func(*args, **kwargs)
        inputs = _tensors((args, kwargs))
        versions = {id(t): t._version for t in inputs}
        out = func(*args, **kwargs)
        outputs = _tensors(out)
        if outputs:
            rec.record(rec.stack[-1], getattr(func, "__name__", str(func)), inputs, outputs, versions, [], False)
        return out


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _unique(tensors: list[torch.Tensor]) -> Iterator[torch.Tensor]:
    seen: set[int] = set()
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            yield t


def capture_workload(
    model: nn.Module,
    input_size: tuple[int, int],
    macs_by_module: Mapping[str, float],
    precision: str = "fp32",
    in_channels: int = 3,
) -> Workload:
    """The per-op FLOPs and bytes of one batch-1 forward of ``model`` (eval mode, on its own device).

    ``macs_by_module`` is fvcore's ``by_module()`` count (multiply-adds, the
    root module under ``""``): FLOPs are twice it, so the ops' FLOPs add up to
    ``2 x gmacs``.
    """
    if precision not in ITEMSIZE:
        raise ValueError(f"unknown precision '{precision}'; valid: {', '.join(ITEMSIZE)}")
    rec = _Recorder(model, precision)
    names = {id(m): name for name, m in model.named_modules()}
    leaves = {id(m) for m in model.modules() if next(m.children(), None) is None}
    pending: dict[int, list[dict[int, int]]] = defaultdict(list)
    io: dict[str, int] = {}

    def pre_hook(module: nn.Module, args: Any, kwargs: Any) -> None:
        rec.busy = True
        name = names[id(module)]
        rec.stack.append(name)
        rec.calls[name] += 1
        if id(module) in leaves:
            if not rec.leaf_depth:
                pending[id(module)].append({id(t): t._version for t in _tensors((args, kwargs))})
            rec.leaf_depth += 1
        rec.busy = False

    def post_hook(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        rec.busy = True
        name = rec.stack.pop()
        if id(module) in leaves:
            rec.leaf_depth -= 1
            if not rec.leaf_depth:
                own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
                inputs = _tensors((args, kwargs))
                used = [w for w in own if all(w is not t for t in inputs)]
                rec.record(name, name, inputs, _tensors(output), pending[id(module)].pop(), used, True)
        if module is model:
            io["bytes"] = sum(rec.nbytes(t) for t in [*_tensors((args, kwargs)), *_tensors(output)])
        rec.busy = False

    handles = [h for m in model.modules()
               for h in (m.register_forward_pre_hook(pre_hook, with_kwargs=True),
                         m.register_forward_hook(post_hook, with_kwargs=True))]
    was_training = model.training
    device = next(model.parameters()).device
    x = torch.randn(1, in_channels, *input_size, device=device)
    try:
        model.eval()
        with torch.no_grad(), _FunctionalCalls(rec):
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    weight_bytes = sum(rec.nbytes(t) for t in [*model.parameters(), *model.buffers()])
    return Workload(_with_flops(rec, macs_by_module), weight_bytes, io.get("bytes", 0), precision)


def _with_flops(rec: _Recorder, macs_by_module: Mapping[str, float]) -> tuple[Op, ...]:
    """Each op's FLOPs: a leaf's own count over its calls; a module's share its children do not hold,
    split over the functional calls it made by their output sizes (an op of its own where it made none)."""
    children: dict[str, float] = defaultdict(float)
    for name, macs in macs_by_module.items():
        if name:
            children[name.rpartition(".")[0]] += macs
    own = {name: macs - children[name] for name, macs in macs_by_module.items()}
    leaf_names = {owner for owner, *_, leaf in rec.ops if leaf}
    functional_elems: dict[str, int] = defaultdict(int)
    for owner, _, _, _, elems, leaf in rec.ops:
        if not leaf:
            functional_elems[owner] += elems
    ops = []
    for owner, name, weights, activations, elems, leaf in rec.ops:
        if leaf:
            macs = macs_by_module.get(owner, 0.0) / max(rec.calls[owner], 1)
        else:
            total = functional_elems[owner]
            macs = own.get(owner, 0.0) * elems / total if total else 0.0
        if weights or activations or macs:
            ops.append(Op(name if leaf else f"{owner or '<model>'}:{name}", 2.0 * macs, activations, weights))
    for owner, macs in own.items():  # FLOPs fvcore found where no call was seen: compute only, no bytes
        if macs > 0 and owner not in leaf_names and not functional_elems.get(owner):
            ops.append(Op(f"{owner or '<model>'}:uncaptured", 2.0 * macs, 0, 0))
    return tuple(ops)
