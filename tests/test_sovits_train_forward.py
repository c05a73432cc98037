"""A SoVITS training step on the tiny config: forward, every loss finite, backward reaches the right parameters."""

import json
from pathlib import Path

import pytest
import torch

from gpt_sovits.audio.spectrogram import mel_spectrogram, spec_to_mel, spectrogram
from gpt_sovits.models.sovits import build_discriminator, build_synthesizer, losses
from gpt_sovits.models.sovits.commons import slice_segments

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _tiny_models(seed: int = 0, segment_frames: int | None = None):
    torch.manual_seed(seed)
    hps = json.loads((CONFIGS / "tiny_s2.json").read_text())
    if segment_frames is not None:  # shorter training window: same code paths, less CPU
        hps["train"]["segment_size"] = segment_frames * hps["data"]["hop_length"]
    net_g = build_synthesizer(hps, "v2")
    codebook = net_g.quantizer.vq.layers[0]._codebook
    # a loaded codebook is required (upstream would run k-means); give it random rows
    codebook.embed.normal_()
    codebook.embed_avg.copy_(codebook.embed)
    codebook.cluster_size.fill_(1.0)
    codebook.inited.fill_(1.0)
    net_d = build_discriminator(hps, "v2")
    return hps, net_g, net_d


def _batch(hps: dict, generator: torch.Generator):
    data = hps["data"]
    hop = data["hop_length"]
    frames = [18, 13]  # longer than one (test-sized) segment, different lengths
    wav = 0.3 * torch.randn(len(frames), max(frames) * hop, generator=generator)
    for b, n in enumerate(frames):
        wav[b, n * hop :] = 0
    spec = spectrogram(wav, data["filter_length"], hop, data["win_length"])  # [B, 1025, frames]
    spec_lengths = torch.tensor(frames)
    ssl = torch.randn(len(frames), 768, spec.shape[-1], generator=generator)
    text = torch.randint(1, 732, (len(frames), 12), generator=generator)
    text_lengths = torch.tensor([12, 9])
    text[1, 9:] = 0
    return wav.unsqueeze(1), spec, spec_lengths, ssl, text, text_lengths


@pytest.mark.slow
def test_training_step_losses_and_gradients():
    hps, net_g, net_d = _tiny_models(segment_frames=10)
    net_g.train()
    net_d.train()
    data, train = hps["data"], hps["train"]
    hop, segment = data["hop_length"], train["segment_size"]
    gen = torch.Generator().manual_seed(1)
    wav, spec, spec_lengths, ssl, text, text_lengths = _batch(hps, gen)

    out = net_g(ssl, spec, spec_lengths, text, text_lengths, generator=gen)
    y_hat, kl_ssl, ids_slice, z_mask, quantized = out.y_hat, out.kl_ssl, out.ids_slice, out.y_mask, out.quantized
    z_p, m_p, logs_p, logs_q = out.z_p, out.m_p, out.logs_p, out.logs_q
    assert y_hat.shape == (2, 1, segment)
    assert quantized.shape == (2, 768, 2 * (ssl.shape[-1] // 2))
    assert bool((ids_slice >= 0).all()) and bool((ids_slice + segment // hop <= spec_lengths).all())

    mel = spec_to_mel(spec, data["filter_length"], data["n_mel_channels"], data["sampling_rate"],
                      data["mel_fmin"], data["mel_fmax"])
    y_mel = slice_segments(mel, ids_slice, segment // hop)
    y_hat_mel = mel_spectrogram(y_hat.squeeze(1), data["filter_length"], data["n_mel_channels"],
                                data["sampling_rate"], hop, data["win_length"], data["mel_fmin"], data["mel_fmax"])
    y = slice_segments(wav, ids_slice * hop, segment)

    # discriminator step
    y_d_rs, y_d_gs, _, _ = net_d(y, y_hat.detach())
    loss_disc, _, _ = losses.discriminator_loss(y_d_rs, y_d_gs)
    assert torch.isfinite(loss_disc)
    loss_disc.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net_d.parameters())
    net_d.zero_grad(set_to_none=True)

    # generator step (D parameters frozen here only to save CPU; gradients still flow through D to y_hat)
    net_d.requires_grad_(False)
    _, y_d_gs, fmap_rs, fmap_gs = net_d(y, y_hat)
    loss_mel = losses.mel_loss(y_mel, y_hat_mel, train["c_mel"])
    loss_kl = losses.kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * train["c_kl"]
    loss_fm = losses.feature_loss(fmap_rs, fmap_gs)
    loss_gen, _ = losses.generator_loss(y_d_gs)
    loss_gen_all = loss_gen + loss_fm + loss_mel + kl_ssl * 1 + loss_kl
    for value in (loss_mel, loss_kl, loss_fm, loss_gen, kl_ssl, loss_gen_all):
        assert torch.isfinite(value)
    assert float(kl_ssl) == 0.0  # frozen quantizer: no commitment loss
    loss_gen_all.backward()

    grads = {name: p.grad for name, p in net_g.named_parameters()}
    # the frozen SSL projection gets no gradient (as upstream); everything else trains
    assert grads["ssl_proj.weight"] is None and grads["ssl_proj.bias"] is None
    for prefix in ("enc_p.", "dec.", "enc_q.", "flow.", "ref_enc."):
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    assert grads["dec.ups.0.weight_g"] is not None and grads["dec.ups.0.weight_v"] is not None


def test_generator_seed_makes_forward_and_decode_reproducible():
    hps, net_g, _ = _tiny_models(segment_frames=10)
    net_g.eval()
    _wav, spec, spec_lengths, ssl, text, text_lengths = _batch(hps, torch.Generator().manual_seed(2))
    outs = []
    for _ in range(2):
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():
            out = net_g(ssl, spec, spec_lengths, text, text_lengths, generator=gen)
            o, ids = out.y_hat, out.ids_slice
        audio = net_g.decode(net_g.extract_latent(ssl[:1]).transpose(0, 1), text[:1], [spec[:1]], noise_scale=0.5,
                             generator=gen)
        outs.append((o, ids, audio))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    assert torch.equal(outs[0][2], outs[1][2])
    assert outs[0][2].shape == (1, 1, 2 * (ssl.shape[-1] // 2) * hps["data"]["hop_length"])


def test_uninitialised_codebook_is_refused():
    hps = json.loads((CONFIGS / "tiny_s2.json").read_text())
    net_g = build_synthesizer(hps, "v2").eval()
    with pytest.raises(RuntimeError, match="codebook is not initialised"):
        net_g.extract_latent(torch.randn(1, 768, 8))
