"""One model on several processes: torch.distributed helpers and a torchrun-style launcher.

segbench runs data-parallel training the way ``torchrun`` does, so the two
are interchangeable: ``segbench train --nproc-per-node 2`` starts two workers
through torch's elastic launcher (standalone rendezvous on 127.0.0.1), and
``torchrun --standalone --nproc-per-node 2 -m segbench train`` starts the same
workers itself; a segbench started inside a torchrun environment (``RANK``,
``WORLD_SIZE`` ... set) joins that job instead of launching another.

Evaluation splits the data into disjoint shards (:class:`ShardSampler`, no
padding) and sums the ranks' confusion matrices, so a distributed score is
the single-process score on the same weights.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

#: The variables torchrun sets in each worker; their presence means "join, do not launch".
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int


def in_torchrun() -> bool:
    """True inside a worker started by torchrun (or by :func:`launch`)."""
    return all(name in os.environ for name in TORCHRUN_VARS)


def dist_env() -> DistEnv:
    """The torchrun environment of this process (a one-process job outside torchrun)."""
    env = os.environ
    world = int(env.get("WORLD_SIZE", 1))
    return DistEnv(
        rank=int(env.get("RANK", 0)),
        world_size=world,
        local_rank=int(env.get("LOCAL_RANK", 0)),
        local_world_size=int(env.get("LOCAL_WORLD_SIZE", world)),
        master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
        master_port=int(env.get("MASTER_PORT", 0)),
    )


def is_distributed() -> bool:
    """A process group with more than one rank is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that writes files and prints."""
    return get_rank() == 0


def check_nproc(nproc: int, device: str, gpu_count: int | None = None) -> None:
    """Refuse a process count that cannot run: not positive, or more processes than GPUs."""
    if nproc < 1:
        raise ValueError(f"--nproc-per-node must be a positive number of processes, not {nproc}")
    if nproc > 1 and _uses_cuda(device):
        gpus = torch.cuda.device_count() if gpu_count is None else gpu_count
        if nproc > gpus:
            raise ValueError(f"--nproc-per-node {nproc} needs {nproc} GPUs but {gpus} are visible; "
                             f"use at most {gpus} or --device cpu")


def _uses_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def worker_device(device: str | torch.device, local_rank: int) -> torch.device:
    """This worker's device: ``cuda:LOCAL_RANK`` on a GPU machine (one GPU per process), else the CPU."""
    dev = torch.device("cuda" if str(device) == "auto" and torch.cuda.is_available() else
                       ("cpu" if str(device) == "auto" else device))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    return dev


def init_process_group(device: torch.device) -> DistEnv:
    """Join the torchrun job: NCCL between GPUs, gloo on the CPU (env:// rendezvous).

    On the CPU the cores are split between the local processes (``cores / N``
    threads each) unless ``OMP_NUM_THREADS`` says otherwise: N processes each
    with every core would oversubscribe the machine.
    """
    env = dist_env()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=env.rank,
                                world_size=env.world_size)
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // env.local_world_size))
    return env


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` as rank ``src`` has it, on every rank (pickled; for small values)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_float(value: float, src: int = 0) -> float:
    """Rank ``src``'s number on every rank, e.g. its clock, so all ranks stop on the same step."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.broadcast(t, src=src)
    return float(t.item())


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over ranks (e.g. each rank's epoch loss)."""
    if not is_distributed():
        return value
    t = value.detach().clone().to(_collective_device(), torch.float64)
    dist.all_reduce(t)
    return t / dist.get_world_size()


def all_reduce_confusion(matrix: torch.Tensor) -> torch.Tensor:
    """Sum an int64 confusion matrix over ranks, in place (exact: integer counts)."""
    if matrix.dtype != torch.int64:
        raise TypeError(f"a confusion matrix is int64, not {matrix.dtype}")
    if is_distributed():
        dist.all_reduce(matrix, op=dist.ReduceOp.SUM)
    return matrix


def _collective_device() -> torch.device:
    """NCCL reduces CUDA tensors only; gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class ShardSampler(Sampler[int]):
    """Rank ``r`` of ``w`` gets indices ``r, r + w, r + 2w, ...``: disjoint shards covering the set once.

    Unlike ``DistributedSampler`` nothing is padded or dropped, so shards may
    differ in length by one; a duplicated image would be counted twice and
    bias the mIoU. Meant for evaluation, where ranks need no lock-step.
    """

    def __init__(self, length: int, rank: int | None = None, world_size: int | None = None) -> None:
        self.length = length
        self.rank = get_rank() if rank is None else rank
        self.world_size = get_world_size() if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside a world of {self.world_size}")

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))


class GlobalBatchSampler(Sampler[list[int]]):
    """Each rank's part of the single-process batches, so N ranks see what one process would.

    Every rank draws the same permutation of the set from ``generator``, cuts
    it into global batches of ``batch_size`` (the last short one dropped when
    the set holds a full batch, as the single-process loader does), and
    yields slice ``rank`` of each: per-rank batches of ``batch_size / world``
    whose union is the single-process batch, with as many steps per epoch.
    """

    def __init__(self, length: int, batch_size: int, generator: torch.Generator,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ValueError(f"training batch size {batch_size} is not divisible by {world_size} processes; "
                             f"the global batch is split evenly between them")
        if world_size > 1 and length < batch_size:
            raise ValueError(f"the training set ({length} images) is smaller than one global batch "
                             f"({batch_size}); lower the batch size")
        self.length, self.batch_size, self.generator = length, batch_size, generator
        self.rank, self.world_size = rank, world_size
        self.drop_last = length >= batch_size

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.length, generator=self.generator).tolist()
        per_rank = self.batch_size // self.world_size
        for step in range(len(self)):
            batch = order[step * self.batch_size:(step + 1) * self.batch_size]
            yield batch[self.rank * per_rank:(self.rank + 1) * per_rank] if self.world_size > 1 else batch

    def __len__(self) -> int:
        if self.drop_last:
            return self.length // self.batch_size
        return (self.length + self.batch_size - 1) // self.batch_size


def _free_endpoint() -> str:
    """Like torchrun's ``--standalone``: port 0 lets the rendezvous store pick a free port itself."""
    return "127.0.0.1:0"


def launch(fn: Callable[..., Any], args: tuple[Any, ...], nproc: int) -> dict[int, Any]:
    """Run ``fn(*args)`` in ``nproc`` local workers the torchrun way; returns ``{rank: return value}``.

    ``fn`` must be importable by name (workers are spawned). When a worker
    fails, all are stopped and a one-line ``RuntimeError`` names the first
    failure (its traceback is on the worker's stderr).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"segbench-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint=_free_endpoint(),
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    try:
        return elastic_launch(config, fn)(*args)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        message = failure.message  # a dict {"message": "ValueError: ..."} when the worker raised
        if isinstance(message, dict):
            message = message.get("message", "")
        message = (str(message).strip() or f"exit code {failure.exitcode}").splitlines()[0]
        raise RuntimeError(f"rank {rank} of {nproc} failed: {message}") from None
