"""Command-line options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from segbench.losses import LOSSES

Encoders = Annotated[str, typer.Option(help="Comma list of encoders.")]
Decoders = Annotated[str, typer.Option(help="Comma list of decoders.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Dataset = Annotated[Optional[str], typer.Option(help="Dataset to train and score on.", rich_help_panel="Data")]
DataRoot = Annotated[Optional[str], typer.Option(help="Dataset root folder.", rich_help_panel="Data")]
TrainSplit = Annotated[str, typer.Option(help="Split to train on.", rich_help_panel="Data")]
ValSplit = Annotated[str, typer.Option(help="Split to validate on each epoch ('' for none).", rich_help_panel="Data")]
EvalSplit = Annotated[Optional[str], typer.Option(help="Split to report (default test, else val).", rich_help_panel="Data")]
TRAINING = "Training"
Epochs = Annotated[Optional[int], typer.Option(help="Budget in epochs.", rich_help_panel=TRAINING)]
Iterations = Annotated[Optional[int], typer.Option(help="Budget in iterations (default 400).", rich_help_panel=TRAINING)]
TimeBudget = Annotated[Optional[float], typer.Option(help="Budget in seconds of training.", rich_help_panel=TRAINING)]
TrainBatch = Annotated[int, typer.Option(help="Training batch size.", rich_help_panel=TRAINING)]
CropSize = Annotated[Optional[str], typer.Option(help="Training crop HxW (default: image size).", rich_help_panel=TRAINING)]
Optimizer = Annotated[str, typer.Option(help="adamw or sgd (momentum 0.9).", rich_help_panel=TRAINING)]
LearningRate = Annotated[Optional[float], typer.Option(help="Base LR (default 1e-3 adamw, 0.01 sgd).", rich_help_panel=TRAINING)]
WeightDecay = Annotated[float, typer.Option(help="Weight decay.", rich_help_panel=TRAINING)]
WarmupIters = Annotated[int, typer.Option(help="Linear LR warm-up iterations before poly decay.", rich_help_panel=TRAINING)]
ClassWeights = Annotated[bool, typer.Option(help="Median-frequency class weights.", rich_help_panel=TRAINING)]
TrainPrecision = Annotated[str, typer.Option(help="fp32, fp16 or bf16 (AMP).", rich_help_panel=TRAINING)]
Seed = Annotated[int, typer.Option(help="Random seed.", rich_help_panel=TRAINING)]
Deterministic = Annotated[bool, typer.Option(help="Deterministic algorithms (slower).", rich_help_panel=TRAINING)]
Loss = Annotated[str, typer.Option(help=f"Training loss: {', '.join(LOSSES.names())}.", rich_help_panel=TRAINING)]
Workers = Annotated[int, typer.Option(help="Data loader worker processes.", rich_help_panel=TRAINING)]
