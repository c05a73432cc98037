"""``SynthesizerTrn``: the SoVITS v1/v2/v2Pro/v2ProPlus generator (semantic tokens + phones + reference timbre →
32 kHz wave).

Submodules in upstream's state-dict order: ``enc_p`` (prior TextEncoder with MRTE), ``dec`` (HiFi-GAN), ``enc_q``
(posterior encoder, training only — finetuned weight files drop it), ``flow`` (coupling flow), ``ref_enc``
(MelStyleEncoder → ``ge``), ``ssl_proj`` (HuBERT 50 Hz → 25 Hz), ``quantizer`` (frozen 1×1024 codebook), and for
v2Pro/v2ProPlus ``sv_emb`` (speaker-verification embedding → gin), ``ge_to512`` (gin → MRTE's 512) and ``prelu``:
``ge = PReLU(ref_enc(spec) + sv_emb(emb))``; MRTE receives ``ge_to512(ge)``, flow/dec/enc_q receive ``ge``.
v2ProPlus differs from v2Pro only by its config (a wider decoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .commons import rand_slice_segments, time_mask
from .encoders import SSL_DIM, PosteriorEncoder, TextEncoder
from .generator import Generator
from .modules import ResidualCouplingBlock
from .quantize import ResidualVectorQuantizer
from .style_encoder import MelStyleEncoder

SUPPORTED_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")
PRO_VERSIONS = ("v2Pro", "v2ProPlus")
SV_DIM = 20480  # the SV model's embedding width (ERes2NetV2 forward3), hard-coded upstream
MRTE_GE_DIM = 512  # MRTE's timbre input width, hard-coded upstream
V2_REF_BINS = 704  # v2's ref_enc reads only spectrogram bins 0..703 (≈ 0–11 kHz)


@dataclass
class SynthesizerTrainOutput:
    """What the training forward produces (upstream returns these as a positional 7-tuple)."""

    y_hat: torch.Tensor  # [B, 1, segment_frames·hop] decoded wave of the sliced latent
    kl_ssl: torch.Tensor  # [] codebook commitment loss: always 0 with the frozen quantizer
    ids_slice: torch.Tensor  # [B] start frame of each item's training segment
    y_mask: torch.Tensor  # [B, 1, T] valid spectrogram frames (upstream's x_mask and z_mask)
    z: torch.Tensor  # [B, inter, T] posterior sample
    z_p: torch.Tensor  # [B, inter, T] flow(z)
    m_p: torch.Tensor  # [B, inter, T] prior mean
    logs_p: torch.Tensor  # [B, inter, T] prior log-std
    m_q: torch.Tensor  # [B, inter, T] posterior mean
    logs_q: torch.Tensor  # [B, inter, T] posterior log-std
    quantized: torch.Tensor  # [B, 768, T] codebook rows upsampled to 50 Hz (upstream's stats_ssl)
    ge: torch.Tensor  # [B, gin, 1] reference-encoder timbre vector


class SynthesizerTrn(nn.Module):
    """Built like upstream: ``SynthesizerTrn(spec_channels, segment_size, **hps.model)``.

    Unknown keyword arguments (``n_layers_q``, ``use_spectral_norm``, ``use_sdp``, …) are accepted and ignored, as
    upstream does; ``n_speakers`` is accepted but unused (there is no speaker embedding).
    """

    def __init__(
        self,
        spec_channels: int,
        segment_size: int,
        inter_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        upsample_rates: list[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: list[int],
        n_speakers: int = 0,
        gin_channels: int = 0,
        semantic_frame_rate: str | None = None,
        freeze_quantizer: bool | None = None,
        version: str = "v2",
        **_ignored,
    ) -> None:
        super().__init__()
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"SoVITS version {version!r} is not supported yet (supported: {', '.join(SUPPORTED_VERSIONS)})"
            )
        if semantic_frame_rate not in ("25hz", "50hz"):
            raise ValueError(f"semantic_frame_rate must be '25hz' or '50hz', got {semantic_frame_rate!r}")
        self.spec_channels = spec_channels
        self.segment_size = segment_size
        self.inter_channels = inter_channels
        self.gin_channels = gin_channels
        self.semantic_frame_rate = semantic_frame_rate
        self.freeze_quantizer = bool(freeze_quantizer)
        self.version = version
        self.is_pro = version in PRO_VERSIONS

        self.enc_p = TextEncoder(inter_channels, hidden_channels, filter_channels, n_heads, n_layers, kernel_size,
                                 p_dropout, version="v1" if version == "v1" else "v2")
        self.dec = Generator(inter_channels, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
                             upsample_rates, upsample_initial_channel, upsample_kernel_sizes, gin_channels=gin_channels)
        self.enc_q = PosteriorEncoder(spec_channels, inter_channels, hidden_channels, 5, 1, 16,
                                      gin_channels=gin_channels)
        self.flow = ResidualCouplingBlock(inter_channels, hidden_channels, 5, 1, 4, gin_channels=gin_channels)
        self.ref_bins = V2_REF_BINS if version != "v1" else spec_channels
        self.ref_enc = MelStyleEncoder(self.ref_bins, style_vector_dim=gin_channels)
        if semantic_frame_rate == "25hz":
            self.ssl_proj = nn.Conv1d(SSL_DIM, SSL_DIM, 2, stride=2)
        else:
            self.ssl_proj = nn.Conv1d(SSL_DIM, SSL_DIM, 1, stride=1)
        self.quantizer = ResidualVectorQuantizer(dimension=SSL_DIM, n_q=1, bins=1024)
        if self.is_pro:
            self.sv_emb = nn.Linear(SV_DIM, gin_channels)
            self.ge_to512 = nn.Linear(gin_channels, MRTE_GE_DIM)
            self.prelu = nn.PReLU(num_parameters=gin_channels)
        if self.freeze_quantizer:
            # Upstream only switches these to eval inside forward; with no straight-through path they never get a
            # gradient anyway (quirk S4). Saying so explicitly keeps them out of backward, DDP and weight decay.
            self.ssl_proj.requires_grad_(False)
            self.quantizer.requires_grad_(False)

    def train(self, mode: bool = True) -> "SynthesizerTrn":
        """As ``nn.Module.train``, but a frozen semantic tokeniser (ssl_proj + codebook) always stays in eval mode."""
        super().train(mode)
        if self.freeze_quantizer:
            self.ssl_proj.eval()
            self.quantizer.eval()
        return self

    # -- pieces shared by training and inference ------------------------------------------------------------------

    def reference_embedding(self, refer: torch.Tensor, refer_mask: torch.Tensor | None = None,
                            sv_emb: torch.Tensor | None = None) -> torch.Tensor:
        """Timbre vector ``ge [B, gin, 1]`` from a linear spectrogram ``[B, spec_channels, T]`` (v2Pro: plus the
        reference's SV embedding ``[B, 20480]``, then PReLU)."""
        if refer_mask is None:
            lengths = torch.tensor([refer.size(2)], dtype=torch.long, device=refer.device)
            refer_mask = time_mask(lengths, refer.size(2), refer.dtype)  # [1, 1, T], broadcast over B
        ge = self.ref_enc(refer[:, : self.ref_bins] * refer_mask, refer_mask)
        if not self.is_pro:
            return ge
        if sv_emb is None:
            raise ValueError(f"a {self.version} model needs the reference's speaker-verification embedding (sv_emb)")
        return self.prelu(ge + self.sv_emb(sv_emb).unsqueeze(-1))

    def mrte_condition(self, ge: torch.Tensor | None) -> torch.Tensor | None:
        """What MRTE receives: ``ge`` itself (v1/v2), or ``ge_to512`` over channels (v2Pro) → ``[B, 512, 1]``."""
        if ge is None or not self.is_pro:
            return ge
        return self.ge_to512(ge.transpose(2, 1)).transpose(2, 1)

    def _upsample_codes(self, quantized: torch.Tensor) -> torch.Tensor:
        """25 Hz → 50 Hz by nearest repetition so the sequence lines up with spectrogram frames."""
        if self.semantic_frame_rate == "25hz":
            return F.interpolate(quantized, size=int(quantized.shape[-1] * 2), mode="nearest")
        return quantized

    # -- training ---------------------------------------------------------------------------------------------------

    def forward(
        self,
        ssl: torch.Tensor,  # [B, 768, T50] HuBERT features
        y: torch.Tensor,  # [B, spec_channels, T] linear spectrogram
        y_lengths: torch.Tensor,  # [B]
        text: torch.Tensor,  # [B, N]
        text_lengths: torch.Tensor,  # [B]
        generator: torch.Generator | None = None,
        sv_emb: torch.Tensor | None = None,  # [B, 20480] v2Pro/v2ProPlus: the clips' stored SV embeddings
        noise: torch.Tensor | None = None,  # [B, inter, T] posterior noise to use instead of a fresh draw
        slice_rand: torch.Tensor | None = None,  # [B] uniforms for the segment offsets instead of a fresh draw
    ) -> SynthesizerTrainOutput:
        """Training pass (upstream's ``SynthesizerTrn.forward``) → :class:`SynthesizerTrainOutput`.

        The reference encoder sees the same utterance it reconstructs (upstream's choice). The SSL projection and
        codebook are frozen (no gradient, eval mode; a trainable codebook is not implemented). The two random draws
        (posterior noise, slice offsets) come from ``generator`` (default: torch's global RNG, as upstream) unless
        ``noise`` / ``slice_rand`` give them, which is how the recorded upstream step is replayed.
        """
        if self.enc_q is None:
            raise RuntimeError("this SoVITS model was loaded for inference without its posterior encoder (enc_q); "
                               "training must start from a pretrained G file, which contains it")
        if not self.freeze_quantizer:
            raise NotImplementedError(
                "training with a trainable codebook (model.freeze_quantizer=false) is not implemented; upstream's "
                "SoVITS configs always freeze it"
            )
        y_mask = time_mask(y_lengths, y.size(2), y.dtype)
        ge = self.reference_embedding(y, y_mask, sv_emb)

        with torch.no_grad():
            quantized, _codes, kl_ssl = self.quantizer(self.ssl_proj(ssl))
        quantized = self._upsample_codes(quantized)

        _x, m_p, logs_p, y_mask = self.enc_p(quantized, y_lengths, text, text_lengths, self.mrte_condition(ge))
        z, m_q, logs_q, y_mask = self.enc_q(y, y_lengths, g=ge, generator=generator, noise=noise)
        z_p = self.flow(z, y_mask, g=ge)
        z_slice, ids_slice = rand_slice_segments(z, y_lengths, self.segment_size, generator=generator,
                                                 rand=slice_rand)
        y_hat = self.dec(z_slice, g=ge)
        return SynthesizerTrainOutput(y_hat=y_hat, kl_ssl=kl_ssl, ids_slice=ids_slice, y_mask=y_mask, z=z, z_p=z_p,
                                      m_p=m_p, logs_p=logs_p, m_q=m_q, logs_q=logs_q, quantized=quantized, ge=ge)

    # -- inference -------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def extract_latent(self, ssl: torch.Tensor) -> torch.Tensor:
        """HuBERT features ``[B, 768, T50]`` → semantic codes ``[B, n_q=1, T50 // 2]`` (upstream's layout;
        callers take ``codes[0, 0]``)."""
        codes = self.quantizer.encode(self.ssl_proj(ssl))  # [n_q, B, T25]
        return codes.transpose(0, 1)

    @torch.no_grad()
    def decode(
        self,
        codes: torch.Tensor,  # [n_q=1, B, T25]
        text: torch.Tensor,  # [B, N] target phone ids
        refer: torch.Tensor | list[torch.Tensor] | None,  # [B, spec_channels, Tref] or a list of them
        noise_scale: float = 0.5,
        speed: float = 1.0,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        sv_emb: torch.Tensor | list[torch.Tensor] | None = None,  # v2Pro: [B, 20480] per reference
    ) -> torch.Tensor:
        """Semantic codes + phones + reference spectrogram(s) → wave ``[B, 1, 2·T25·hop]`` (speed 1).

        Several references: ``ge`` is the mean of their per-reference vectors (v2Pro: each after its own SV term
        and PReLU; ``sv_emb`` is then a list in the same order). ``speed`` resamples the prior to
        ``int(2·T25 / speed) + 1`` frames. The prior noise comes from ``generator`` (default: global RNG), or is
        ``noise`` itself when given (a recorded draw, shaped like the prior mean), so runs can be replayed exactly.
        """
        if isinstance(refer, (list, tuple)):
            if not refer:
                raise ValueError("decode needs at least one reference spectrogram")
            embs = list(sv_emb) if isinstance(sv_emb, (list, tuple)) else [sv_emb] * len(refer)
            if len(embs) != len(refer):
                raise ValueError(f"{len(refer)} reference spectrograms but {len(embs)} SV embeddings")
            ge = torch.stack([self.reference_embedding(r, sv_emb=e) for r, e in zip(refer, embs)], 0).mean(0)
        elif refer is not None:
            ge = self.reference_embedding(refer, sv_emb=sv_emb[0] if isinstance(sv_emb, (list, tuple)) else sv_emb)
        else:
            ge = None

        y_lengths = torch.tensor([codes.size(2) * 2], dtype=torch.long, device=codes.device)
        text_lengths = torch.tensor([text.size(-1)], dtype=torch.long, device=text.device)

        quantized = self._upsample_codes(self.quantizer.decode(codes))  # [B, 768, 2·T25]
        _x, m_p, logs_p, y_mask = self.enc_p(quantized, y_lengths, text, text_lengths, self.mrte_condition(ge),
                                             speed=speed)
        if noise is None:
            noise = torch.randn(m_p.shape, generator=generator, dtype=m_p.dtype, device=m_p.device)
        elif tuple(noise.shape) != tuple(m_p.shape):
            raise ValueError(f"decode noise has shape {tuple(noise.shape)}, the prior needs {tuple(m_p.shape)}")
        else:
            noise = noise.to(device=m_p.device, dtype=m_p.dtype)
        z_p = m_p + noise * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, g=ge, reverse=True)
        return self.dec(z * y_mask, g=ge)
