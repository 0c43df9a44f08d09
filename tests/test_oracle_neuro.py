"""Oracle tests of deepref.neuro: LIF and Hodgkin-Huxley trajectories against SciPy's solve_ivp,
the surrogate-gradient backward pass against PyTorch autograd, FastICA against scikit-learn."""

import numpy as np
import pytest

from deepref import neuro
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64

pytestmark = pytest.mark.oracle


def _lif_reference_spikes(current, params, duration):
    """Exact LIF spike times from solve_ivp with a threshold event, reset and refractory hold."""
    integrate = pytest.importorskip("scipy.integrate")

    def rhs(t, v):
        return (-(v - params.e_l) + params.r_m * current) / params.tau_m

    def crossing(t, v):
        return v[0] - params.v_th

    crossing.terminal, crossing.direction = True, 1
    times, start, v0 = [], 0.0, params.e_l
    while start < duration:
        solution = integrate.solve_ivp(rhs, (start, duration), [v0], events=crossing, rtol=1e-11, atol=1e-11)
        if not solution.t_events[0].size:
            break
        times.append(float(solution.t_events[0][0]))
        start, v0 = times[-1] + params.t_ref, params.v_reset
    return np.asarray(times)


@pytest.mark.parametrize("current", [1.8, 2.5, 4.0])
def test_lif_spike_times_agree_with_solve_ivp(current):
    params = neuro.LIFParameters()
    dt = 0.1
    record = neuro.simulate_lif(as_float64(np.asarray([current])), 200.0, dt, params=params)
    ours = record.spike_times(0)
    reference = _lif_reference_spikes(current, params, 200.0)
    assert ours.size >= 3
    # The first spike lands in the step that contains the exact crossing; each later interval too.
    assert 0.0 <= ours[0] - reference[0] < dt
    reference_intervals = np.diff(reference)
    assert np.all(np.abs(np.diff(ours) - reference_intervals[: ours.size - 1]) < dt)


def test_lif_subthreshold_trajectory_agrees_with_solve_ivp():
    integrate = pytest.importorskip("scipy.integrate")
    params = neuro.LIFParameters()
    steps = np.arange(300)
    current = 1.2 + 0.3 * np.sin(steps * 0.1 / 5.0)  # piecewise constant over each 0.1 ms step
    record = neuro.simulate_lif(as_float64(current[:, None]), 30.0, 0.1, params=params)

    def rhs(t, v):
        return (-(v - params.e_l) + params.r_m * current[min(int(t / 0.1), 299)]) / params.tau_m

    solution = integrate.solve_ivp(rhs, (0.0, 30.0), [params.e_l], t_eval=(steps + 1) * 0.1,
                                   rtol=1e-11, atol=1e-11, max_step=0.01)
    np.testing.assert_allclose(to_numpy(record.v)[:, 0], solution.y[0], atol=1e-6)


def _hh_reference(current, duration):
    integrate = pytest.importorskip("scipy.integrate")
    params = neuro.HHParameters()

    def rhs(t, y):
        state = neuro.HHState(*(np.asarray([value]) for value in y))
        return [float(d[0]) for d in neuro.hh_derivatives(state, np.asarray([current]), params)]

    def upstroke(t, y):
        return y[0]

    upstroke.direction = 1
    start = [float(s[0]) for s in neuro.hh_resting_state(np.asarray([-65.0]))]
    return integrate.solve_ivp(rhs, (0.0, duration), start, method="DOP853", events=upstroke, dense_output=True,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("current", [7.0, 15.0])
def test_hh_trajectory_and_spike_times_agree_with_solve_ivp(current):
    dt = 0.025
    record = neuro.simulate_hh(as_float64(np.asarray([current])), 40.0, dt)
    reference = _hh_reference(current, 40.0)
    ours = record.spike_times(0)
    exact = reference.t_events[0]
    assert ours.size == exact.size >= 2
    assert np.all((ours - exact >= 0.0) & (ours - exact < dt))
    grid = np.arange(1, record.v.shape[0] + 1) * dt
    np.testing.assert_allclose(to_numpy(record.v)[:, 0], reference.sol(grid)[0], atol=0.02)  # mV, RK4 at 0.025 ms


def test_hh_reference_rates_are_those_of_a_high_accuracy_integration():
    for current, rate in neuro.HH_REFERENCE_RATES.items():
        spikes = _hh_reference(current, 300.0).t_events[0]
        late = spikes[spikes > 200.0]
        assert late.size >= 3
        assert abs(1000.0 * (late.size - 1) / (late[-1] - late[0]) - rate) < 0.05


def test_surrogate_backward_matches_pytorch_autograd(rng):
    torch = pytest.importorskip("torch")
    config = neuro.SpikingConfig(beta=0.8, beta_out=0.7, threshold=1.0, slope=4.0)
    host = [rng.random((4, 7, 5)), 1.5 * rng.normal(size=(5, 6)), rng.normal(size=6),
            rng.normal(size=(6, 3)), rng.normal(size=3)]
    upstream = rng.normal(size=(4, 3))
    logits, cache = neuro.spiking_forward(*as_float64(*host), config)
    ours = neuro.spiking_backward(as_float64(upstream), cache)

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x >= 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 0.5 * config.slope / (1 + config.slope * x.abs()) ** 2

    x, w1, b1, w2, b2 = (torch.tensor(a, requires_grad=True) for a in host)
    v = torch.zeros(4, 6, dtype=torch.float64)
    s = torch.zeros_like(v)
    u = torch.zeros(4, 3, dtype=torch.float64)
    total = torch.zeros_like(u)
    for t in range(7):
        v = config.beta * v + x[:, t] @ w1 + b1 - config.threshold * s
        s = Spike.apply(v - config.threshold)
        u = config.beta_out * u + s @ w2 + b2
        total = total + u
    torch_logits = total / 7
    np.testing.assert_allclose(to_numpy(logits), torch_logits.detach().numpy(), atol=1e-12)
    (torch_logits * torch.tensor(upstream)).sum().backward()
    for mine, theirs in zip(ours, (x, w1, b1, w2, b2)):
        np.testing.assert_allclose(to_numpy(mine), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_fast_ica_finds_the_components_of_scikit_learn():
    decomposition = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(1)
    sources = np.stack([rng.laplace(size=4000), rng.uniform(-1, 1, 4000), rng.standard_t(5, 4000)], axis=1)
    mixed = sources @ rng.normal(size=(3, 3))
    mixed -= mixed.mean(axis=0)
    white = neuro.pca_whitening(asarray(mixed), 3)
    ours = to_numpy((asarray(mixed) @ white.whiten) @ neuro.fast_ica(asarray(mixed) @ white.whiten, 3).T)
    theirs = decomposition.FastICA(3, whiten="unit-variance", fun="logcosh", random_state=0, max_iter=1000,
                                   tol=1e-8).fit_transform(mixed)
    correlation = np.abs(np.corrcoef(ours.T, theirs.T)[:3, 3:])
    assert np.all(correlation.max(axis=1) > 0.999)
