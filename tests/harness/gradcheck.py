"""Finite-difference checks of a PromptTrainer's gradients (tests/test_training_grad.py, tests/test_families.py)."""
import torch


def trainer_loss(tr, batch):
    """The trainer's loss on a fixed batch, with autograd on (nodes run under inference mode)."""
    with torch.inference_mode(False), torch.enable_grad():
        return tr.loss(*batch)


def directional_check(tr, batch, direction, eps=1e-2):
    """<grad, v> from autograd vs (L(theta + eps v) - L(theta - eps v)) / (2 eps)."""
    with torch.inference_mode(False):
        for t in tr.trainables:
            t.grad = None
        trainer_loss(tr, batch).backward()
        analytic = sum(float((t.grad * v).sum()) for t, v in zip(tr.trainables, direction))
        with torch.no_grad():
            for t, v in zip(tr.trainables, direction):
                t.add_(eps * v)
            plus = float(trainer_loss(tr, batch))
            for t, v in zip(tr.trainables, direction):
                t.sub_(2 * eps * v)
            minus = float(trainer_loss(tr, batch))
            for t, v in zip(tr.trainables, direction):
                t.add_(eps * v)
    return analytic, (plus - minus) / (2 * eps)


def prompt_gradient_direction(tr, batch, like):
    """Autograd's gradient of the loss w.r.t. P, scaled to `like`'s norm: a direction along which the loss moves as
    much as it can. The finite difference along it still checks autograd (a wrong gradient g gives <g_true, g>,
    not |g|^2), where a random direction would move the loss below float32's resolution."""
    with torch.inference_mode(False):
        for t in tr.trainables:
            t.grad = None
        trainer_loss(tr, batch).backward()
        g = tr.prompt.grad.detach().clone()
        for t in tr.trainables:
            t.grad = None
    return g * (like.norm() / g.norm())
