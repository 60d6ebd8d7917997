"""Command-line options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from segbench.losses import LOSSES

Encoders = Annotated[Optional[str], typer.Option(help="Comma list of encoders [default: resnet18,mobilenet].")]
Decoders = Annotated[Optional[str], typer.Option(help="Comma list of decoders [default: skip,unet].")]
Models = Annotated[
    Optional[str],
    typer.Option(help="Comma list of whole networks (enet, erfnet, ...) or named pairs (shuffleseg); "
                 "alone, the grid is these models only. See `segbench list models`."),
]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Dataset = Annotated[Optional[str], typer.Option(help="Dataset to train and score on.", rich_help_panel="Data")]
DataRoot = Annotated[Optional[str], typer.Option(help="Dataset root folder.", rich_help_panel="Data")]
TrainSplit = Annotated[str, typer.Option(help="Split to train on.", rich_help_panel="Data")]
ValSplit = Annotated[str, typer.Option(help="Split to validate on each epoch ('' for none).", rich_help_panel="Data")]
EvalSplit = Annotated[Optional[str], typer.Option(help="Split to report (default test, else val).", rich_help_panel="Data")]
TRAINING = "Training"
Epochs = Annotated[Optional[int], typer.Option(help="Budget in epochs.", rich_help_panel=TRAINING)]
Iterations = Annotated[Optional[int], typer.Option(
    help="Budget in iterations (without a budget: the short recipe, 400).", rich_help_panel=TRAINING)]
TimeBudget = Annotated[Optional[float], typer.Option(help="Budget in seconds of training.", rich_help_panel=TRAINING)]
TrainBatch = Annotated[int, typer.Option(help="Training batch size.", rich_help_panel=TRAINING)]
CropSize = Annotated[Optional[str], typer.Option(help="Training crop HxW (default: image size).", rich_help_panel=TRAINING)]
Optimizer = Annotated[str, typer.Option(help="adamw or sgd (momentum 0.9).", rich_help_panel=TRAINING)]
LearningRate = Annotated[Optional[float], typer.Option(
    help="Base LR (default: 2e-2 in the short recipe, else 1e-3 adamw, 0.01 sgd).", rich_help_panel=TRAINING)]
WeightDecay = Annotated[float, typer.Option(help="Weight decay.", rich_help_panel=TRAINING)]
WarmupIters = Annotated[Optional[int], typer.Option(
    help="Linear LR warm-up iterations before poly decay (default: 40 in the short recipe, else 20).",
    rich_help_panel=TRAINING)]
ClassWeights = Annotated[bool, typer.Option(help="Median-frequency class weights.", rich_help_panel=TRAINING)]
#: Named ``train_precision`` in a command, so its rule (one precision) is not grid's (a comma list).
TrainPrecision = Annotated[str, typer.Option("--precision", help="fp32, fp16 or bf16 (AMP).",
                                              rich_help_panel=TRAINING)]
Seed = Annotated[int, typer.Option(help="Random seed.", rich_help_panel=TRAINING)]
Deterministic = Annotated[bool, typer.Option(help="Deterministic algorithms (slower).", rich_help_panel=TRAINING)]
Loss = Annotated[str, typer.Option(help=f"Training loss: {', '.join(LOSSES.names())}.", rich_help_panel=TRAINING)]
Workers = Annotated[int, typer.Option(help="Data loader worker processes.", rich_help_panel=TRAINING)]
NprocPerNode = Annotated[int, typer.Option(
    "--nproc-per-node", help="Processes training one model data-parallel (torchrun-style; one per GPU). "
    "The batch size stays global.", rich_help_panel=TRAINING)]
EXECUTION = "Execution"
ExecutorName = Annotated[Optional[str], typer.Option(
    "--executor", help="local, subprocess or ray (default: subprocess on CUDA, else local).", rich_help_panel=EXECUTION)]
CellTimeout = Annotated[Optional[float], typer.Option(
    "--timeout", help="Seconds a cell may take before it is killed (subprocess, ray).", rich_help_panel=EXECUTION)]
RayAddress = Annotated[Optional[str], typer.Option(
    help="Ray cluster to run on (default: a local instance).", rich_help_panel=EXECUTION)]
MaxRetries = Annotated[Optional[int], typer.Option(
    help="Times a cell whose Ray worker died is run again (default 2).", rich_help_panel=EXECUTION)]
Concurrency = Annotated[Optional[int], typer.Option(
    help="Cells run at once per machine on CPU (ray; default 1, so timings never overlap).",
    rich_help_panel=EXECUTION)]
INFERENCE = "Inference add-ons"
TtaScales = Annotated[Optional[str], typer.Option(help="Test-time scales, e.g. 0.75,1,1.25 (softmax averaged).", rich_help_panel=INFERENCE)]
Flip = Annotated[bool, typer.Option("--flip", help="Also average the mirrored input's prediction.", rich_help_panel=INFERENCE)]
Crf = Annotated[bool, typer.Option("--crf", help="Refine with a convolutional dense CRF (7x7 window).", rich_help_panel=INFERENCE)]
CrfIterations = Annotated[int, typer.Option(help="Mean-field iterations of the CRF.", rich_help_panel=INFERENCE)]
McSamples = Annotated[int, typer.Option(help="Monte-Carlo dropout passes (0: off; needs dropout).", rich_help_panel=INFERENCE)]
AttentionScales = Annotated[Optional[str], typer.Option(help="Train with attention to scale over these scales, e.g. 1,0.5.", rich_help_panel=INFERENCE)]
