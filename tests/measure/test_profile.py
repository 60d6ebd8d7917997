"""profile(): the record, latency statistics and memory, on the CPU."""

import math

import pytest
import torch
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

import segbench
from segbench.measure.latency import LatencyStats, run_until
from segbench.measure.memory import CPU_METHOD, PeakMemory, cpu_peak_supported
from segbench.measure.profile import resolve_device


def test_profile_record_has_the_documented_fields(fast_timing):
    model = segbench.build_model(encoder="resnet18", decoder="skip", num_classes=3)
    p = segbench.profile(model, input_size=(64, 96), device="cpu", batch_size=2, timing=fast_timing)
    assert p.params == sum(t.numel() for t in model.parameters())
    assert p.gflops == pytest.approx(2 * p.gmacs) and p.gmacs > 0
    assert p.timed_iters == len(p.latency_samples_ms) >= 2
    assert p.latency_ms_p10 <= p.latency_ms_median <= p.latency_ms_p90
    assert p.throughput_img_s == pytest.approx(2000 / p.latency_ms_median)
    assert (p.batch_size, p.input_h, p.input_w, p.device) == (2, 64, 96, "cpu")
    assert p.flops_counter == "fvcore"
    record = p.to_dict()
    for key in ["params", "gmacs", "gflops", "latency_ms_median", "peak_mem_mib"]:
        assert key in record


def test_profile_takes_torchvision_segmentation_models(fast_timing):
    """Baselines from torchvision return a dict; FLOPs and timing still work."""
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=5)
    p = segbench.profile(model, input_size=(96, 96), device="cpu", timing=fast_timing)
    assert p.gmacs > 0 and p.latency_ms_median > 0


def test_flops_are_per_image_whatever_the_batch(fast_timing):
    model = segbench.build_model(encoder="mobilenet", decoder="skip", num_classes=3)
    one = segbench.profile(model, (64, 64), device="cpu", batch_size=1, timing=fast_timing)
    four = segbench.profile(model, (64, 64), device="cpu", batch_size=4, timing=fast_timing)
    assert one.gmacs == four.gmacs


@pytest.mark.skipif(not cpu_peak_supported(), reason="needs Linux /proc/self/clear_refs")
def test_cpu_peak_memory_sees_a_large_temporary():
    with PeakMemory(torch.device("cpu")) as small:
        torch.ones(1024, 1024).sum()  # 4 MiB
    with PeakMemory(torch.device("cpu")) as large:
        torch.ones(64, 1024, 1024).sum()  # 256 MiB
    assert small.method == large.method == CPU_METHOD
    assert large.peak_mib > 200
    assert small.peak_mib < large.peak_mib / 4


def test_run_until_honours_both_minimums_and_the_cap():
    calls = []
    samples = run_until(lambda: calls.append(1) or 1.0, min_iters=5, min_s=0.0, max_s=10.0)
    assert len(samples) == 5
    capped = run_until(lambda: 1.0, min_iters=10**9, min_s=0.0, max_s=0.05)
    assert 0 < len(capped) < 10**9


def test_latency_stats():
    s = LatencyStats(tuple(float(v) for v in range(1, 101)), warmup_iters=1, warmup_s=0.0, batch_size=4)
    assert s.median == 50.5
    assert s.percentile(10) == pytest.approx(10.9)
    assert s.throughput == pytest.approx(4000 / 50.5)
    assert s.iqr_rel == pytest.approx((75.25 - 25.75) / 50.5)
    assert math.isclose(s.std, torch.arange(1.0, 101.0).std().item(), rel_tol=1e-6)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="valid: auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_profile_rejects_bad_settings():
    model = segbench.build_model(encoder="mobilenet", decoder="skip", num_classes=3)
    with pytest.raises(ValueError, match="valid: fp32, fp16, bf16"):
        segbench.profile(model, (64, 64), device="cpu", precision="fp8")
    with pytest.raises(ValueError, match="batch size must be positive"):
        segbench.profile(model, (64, 64), device="cpu", batch_size=0)
