"""A tiny random-weight Whisper model in CTranslate2 format, built locally (no download).

transformers builds a 1-layer WhisperForConditionalGeneration with random weights and a byte-level
tokenizer whose special tokens sit where large-v3's do (timestamps, word alignment, the language
tokens); CTranslate2's converter writes it as int8. CTranslate2 still reports it as English-only
(is_multilingual false), so faster-whisper skips language detection with it and says "en". Its
words are noise: tests assert structure and timing, never what it heard.
"""

from __future__ import annotations

from pathlib import Path

WHISPER_VOCAB = 51866  # as large-v3 (100 languages): CTranslate2 then treats the model as multilingual


# Real Whisper sizes (d_model, layers per side, heads, ffn) for bench/asr_throughput.py: random
# weights of the real shape cost what trained ones do per window.
SIZES = {"tiny": (384, 4, 6, 1536), "base": (512, 6, 8, 2048), "small": (768, 12, 12, 3072),
         "medium": (1024, 24, 16, 4096)}


def build_tiny_whisper(out: Path, size: tuple[int, int, int, int] = (64, 1, 2, 128)) -> Path:
    """A random-weight Whisper of `size` (d_model, layers, heads, ffn) in CTranslate2 int8 format."""
    import torch
    import tqdm
    from ctranslate2.converters import TransformersConverter
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    tqdm.tqdm.monitor_interval = 0  # no monitor thread left behind by the converter's progress bars
    specials = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{c}|>" for c in _LANGUAGE_CODES), "<|translate|>",
                "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>",
                *(f"<|{i * 0.02:.2f}|>" for i in range(1501))]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    n_text = WHISPER_VOCAB - len(specials)
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab.update({f"<pad{i}>": i for i in range(len(alphabet), n_text)})  # unreachable fillers
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    assert tok.get_vocab_size() == WHISPER_VOCAB
    eot, sot = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|startoftranscript|>")
    hf = out.parent / f"{out.name}-hf"
    hf.mkdir(parents=True, exist_ok=True)
    WhisperTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                         unk_token="<|endoftext|>", pad_token="<|endoftext|>").save_pretrained(hf)
    d, layers, heads, ffn = size
    cfg = WhisperConfig(vocab_size=WHISPER_VOCAB, num_mel_bins=80, encoder_layers=layers,
                        encoder_attention_heads=heads, decoder_layers=layers, decoder_attention_heads=heads,
                        d_model=d, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_source_positions=1500,
                        max_target_positions=448,
                        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot, is_multilingual=True,
        lang_to_id={f"<|{c}|>": tok.token_to_id(f"<|{c}|>") for c in _LANGUAGE_CODES},
        task_to_id={"transcribe": tok.token_to_id("<|transcribe|>"), "translate": tok.token_to_id("<|translate|>")},
        no_timestamps_token_id=tok.token_to_id("<|notimestamps|>"), alignment_heads=[[0, 0], [0, 1]],
        suppress_tokens=[], begin_suppress_tokens=[eot])
    model.save_pretrained(hf)
    TransformersConverter(str(hf), copy_files=["tokenizer.json"]).convert(str(out), quantization="int8", force=True)
    return out


_built: dict[str, Path] = {}


def tiny_whisper_once(base: Path) -> Path:
    """The tiny model, built once per test process (under a pytest basetemp)."""
    if "m" not in _built:
        _built["m"] = build_tiny_whisper(base / "whisper-tiny-random")
    return _built["m"]
