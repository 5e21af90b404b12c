"""Test-environment-only stand-in for torchaudio (installed as site-packages/torchaudio by tests/run.sh, never part
of the pack).

ComfyUI >= 0.8 imports torchaudio at module level when `comfy.sd` is imported (comfy/ldm/lightricks/vae/
audio_vae.py), but no torchaudio build exists for torch 2.13 in the package registry (2.11.1 is the newest and
fails to load its library against 2.13). This stub lets the host import; any use of it says why it fails.
Nothing in unlock-restore uses torchaudio.
"""
__version__ = "0.0.0+unlock-restore-test-stub"
UNLOCK_RESTORE_TEST_STUB = True


def __getattr__(name):
    raise AttributeError(
        f"torchaudio.{name}: this is unlock-restore's test-only torchaudio stub (no torchaudio build matches torch "
        "2.13 here); audio nodes are unavailable in the test environment.")
