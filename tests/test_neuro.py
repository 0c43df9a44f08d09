"""Tests of deepref.neuro: neuron models against their formulas, plasticity rules, networks,
the surrogate-gradient backward pass, decoding and ICA, and clear errors on bad input."""

import numpy as np
import pytest

from deepref import neuro, nn, optim
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64, check_backward
from deepref.train import evaluate, fit

# ----------------------------------------------------------------------------- LIF


@pytest.mark.parametrize("dt", [0.1, 0.05])
def test_lif_exact_rate_matches_the_analytic_f_i_curve_within_one_step(dt):
    current = as_float64(np.linspace(1.0, 5.0, 9))
    record = neuro.simulate_lif(current, 200.0, dt, record_v=False)
    simulated = to_numpy(neuro.isi_rate(record))
    analytic = to_numpy(neuro.lif_rate(current))
    assert simulated[0] == 0.0 and analytic[0] == 0.0  # R I = 10 mV < 15 mV to threshold
    above = analytic > 0
    # Spikes are detected at the end of the step that crosses: each interval is late by less than dt.
    lag = 1000.0 / simulated[above] - 1000.0 / analytic[above]
    assert np.all(lag >= -1e-9) and np.all(lag < dt)


def test_lif_euler_rate_is_close_and_converges():
    current = as_float64(np.asarray([2.0, 3.0, 4.0]))
    analytic = to_numpy(neuro.lif_rate(current))
    errors = []
    for dt in (0.2, 0.05):
        rate = to_numpy(neuro.isi_rate(neuro.simulate_lif(current, 200.0, dt, method="euler", record_v=False)))
        errors.append(np.max(np.abs(rate - analytic) / analytic))
    assert errors[0] < 0.05 and errors[1] < errors[0]


def test_lif_refractory_period_bounds_the_interval():
    params = neuro.LIFParameters(t_ref=3.0)
    record = neuro.simulate_lif(as_float64(np.asarray([1e3])), 100.0, 0.1, params=params)
    intervals = np.diff(record.spike_times(0))
    assert np.allclose(intervals, 3.1)  # held for t_ref, then one step crosses
    v = to_numpy(record.v)[:, 0]
    spike_step = int(np.flatnonzero(to_numpy(record.spikes)[:, 0])[0])
    assert np.all(v[spike_step:spike_step + 31] == params.v_reset)


def test_lif_subthreshold_potential_follows_the_exponential_solution():
    params = neuro.LIFParameters()
    record = neuro.simulate_lif(as_float64(np.asarray([1.0])), 50.0, 0.1, params=params)
    t = np.arange(1, 501) * 0.1
    expected = params.e_l + params.r_m * 1.0 * (1 - np.exp(-t / params.tau_m))
    np.testing.assert_allclose(to_numpy(record.v)[:, 0], expected, atol=1e-10)


def test_lif_time_varying_current_and_bad_shapes():
    current = as_float64(np.ones((100, 2)) * 3.0)
    record = neuro.simulate_lif(current, 10.0, 0.1)
    assert tuple(record.spikes.shape) == (100, 2)
    with pytest.raises(ValueError, match=r"\(steps, N\) = \(50, N\)"):
        neuro.simulate_lif(current, 5.0, 0.1)
    with pytest.raises(ValueError, match="v0 must have shape"):
        neuro.simulate_lif(current, 10.0, 0.1, v0=as_float64(np.zeros(3)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: neuro.simulate_lif(2.0, 10.0, -0.1, n=1), "dt must be a finite number > 0"),
        (lambda: neuro.LIFParameters(tau_m=-5.0), "tau_m must be a finite number > 0"),
        (lambda: neuro.LIFParameters(v_th=-70.0), "v_th must lie above v_reset"),
        (lambda: neuro.simulate_lif(2.0, 10.0, 0.1, n=1, method="rk2"), "unknown method 'rk2'"),
        (lambda: neuro.simulate_izhikevich(["RS", "XX"], 10.0, 10.0), "unknown Izhikevich parameter set 'XX'"),
        (lambda: neuro.STDPParameters(tau_plus=0.0), "tau_plus must be a finite number > 0"),
        (lambda: neuro.simulate_hh(10.0, 10.0, 0.0, n=1), "dt must be a finite number > 0"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("dt", [0.1, 0.025])
def test_white_noise_gives_the_same_membrane_fluctuations_whatever_the_step(dt):
    params = neuro.LIFParameters()
    current = neuro.white_noise_current(as_float64(np.zeros(100)), 0.3, 300.0, dt, params.tau_m, seed=1)
    assert current.shape == (round(300.0 / dt), 100)
    np.testing.assert_allclose(np.std(to_numpy(current)), 0.3 * np.sqrt(params.tau_m / dt), rtol=0.02)
    v = to_numpy(neuro.simulate_lif(current, 300.0, dt, params).v)[round(50.0 / dt):]
    assert abs(v.std() / (params.r_m * 0.3 / np.sqrt(2.0)) - 1.0) < 0.04


def test_white_noise_current_checks_its_arguments():
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        neuro.white_noise_current(as_float64(np.zeros(3)), -1.0, 10.0, 0.1, 10.0)
    with pytest.raises(ValueError, match=r"mean must be 1-D \(N,\)"):
        neuro.white_noise_current(as_float64(np.zeros((2, 3))), 1.0, 10.0, 0.1, 10.0)


def test_a_diverging_simulation_names_the_step():
    current = np.full((20, 1), 2.0)
    current[7] = np.nan
    message = r"LIF membrane potential became NaN or infinite at step 7 \(t = 0.7 ms\)"
    with pytest.raises(FloatingPointError, match=message):
        neuro.simulate_lif(as_float64(current), 2.0, 0.1)
    with pytest.raises(FloatingPointError, match="Hodgkin-Huxley membrane potential became NaN or infinite at step 7"):
        neuro.simulate_hh(as_float64(current), 0.2, dt=0.01)


# ----------------------------------------------------------------------------- Hodgkin-Huxley


def test_rate_functions_fill_their_removable_singularities():
    v = as_float64(np.asarray([-40.0, -55.0, -40.0 + 1e-9, -55.0 - 1e-9]))
    alpha_m, _, _, _, alpha_n, _ = (to_numpy(r) for r in neuro.hh_rates(v))
    assert np.all(np.isfinite(alpha_m)) and np.all(np.isfinite(alpha_n))
    np.testing.assert_allclose(alpha_m[[0, 2]], 1.0, rtol=1e-8)
    np.testing.assert_allclose(alpha_n[[1, 3]], 0.1, rtol=1e-8)
    x = as_float64(np.asarray([-2e-4, -5e-5, 5e-5, 2e-4]))
    direct = to_numpy(x) / -np.expm1(-to_numpy(x))
    np.testing.assert_allclose(to_numpy(neuro.x_over_one_minus_exp(x)), direct, rtol=1e-12)


def test_hh_rests_near_minus_65_mv():
    record = neuro.simulate_hh(0.0, 20.0, 0.05, n=1)
    v = to_numpy(record.v)[:, 0]
    assert np.max(np.abs(v + 65.0)) < 0.1 and float(to_numpy(record.counts())[0]) == 0


def test_hh_repetitive_firing_starts_between_6_and_6_5():
    current = as_float64(np.asarray([6.0, 6.5, 10.0]))
    record = neuro.simulate_hh(current, 150.0, 0.05, record_v=False)
    late = to_numpy(record.spikes)[-1000:].sum(axis=0)  # last 50 ms
    assert late[0] == 0 and late[1] >= 2 and late[2] >= 3
    rate_10 = float(to_numpy(neuro.isi_rate(record))[2])
    assert 60.0 < rate_10 < 75.0  # published: about 68 Hz


# ----------------------------------------------------------------------------- Izhikevich, Poisson


def test_izhikevich_types_are_told_apart_by_their_statistics():
    names = ["RS", "IB", "CH", "FS", "LTS"]
    record = neuro.simulate_izhikevich(names, 10.0, 300.0, dt=0.1)
    found = [neuro.classify_firing_pattern(neuro.firing_statistics(record.spike_times(i), 300.0))
             for i in range(len(names))]
    assert found == names


def test_izhikevich_parameters_by_name():
    a, b, c, d = (to_numpy(p) for p in neuro.izhikevich_parameters(["FS", "IB"]))
    assert list(a) == [0.1, 0.02] and list(c) == [-65.0, -55.0]


def test_poisson_spikes_have_the_requested_rate_and_are_seeded():
    rates = as_float64(np.asarray([5.0, 20.0, 80.0]))
    first = neuro.poisson_spikes(rates, 20000.0, 1.0, seed=3)
    again = neuro.poisson_spikes(rates, 20000.0, 1.0, seed=3)
    assert np.array_equal(to_numpy(first), to_numpy(again))
    measured = to_numpy(first).sum(axis=0) / 20.0
    assert np.all(np.abs(measured - to_numpy(rates)) < 4 * np.sqrt(to_numpy(rates) / 20.0))
    with pytest.raises(ValueError, match="rates must lie in"):
        neuro.poisson_spikes(as_float64(np.asarray([2000.0])), 10.0, 1.0)


# ----------------------------------------------------------------------------- plasticity


def _correlated_inputs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(5, 5)) * np.asarray([3.0, 1.5, 1.0, 0.5, 0.2])
    x = rng.normal(size=(n, 5)) @ mixing.T
    return x - x.mean(axis=0)


def test_oja_converges_to_the_first_principal_component_and_hebb_grows():
    x_host = _correlated_inputs()
    first_pc = np.linalg.svd(x_host, full_matrices=False)[2][0]
    w = hebbian = as_float64(np.random.default_rng(1).normal(size=5) * 0.1)
    rng = np.random.default_rng(2)
    for _ in range(600):
        batch = asarray(rng.integers(0, 2000, 32))
        xb = as_float64(x_host[to_numpy(batch)])
        w = neuro.oja_step(w, xb, 0.005)
        hebbian = neuro.hebb_step(hebbian, xb, 0.005)
    w_host = to_numpy(w)
    assert abs(w_host @ first_pc) / np.linalg.norm(w_host) > 0.99
    assert abs(np.linalg.norm(w_host) - 1.0) < 0.05
    assert np.linalg.norm(to_numpy(hebbian)) > 1e3


def test_bcm_becomes_selective_to_one_pattern():
    patterns = np.asarray([[1.0, 0.2], [0.2, 1.0]])
    rng = np.random.default_rng(0)
    w, theta = as_float64(np.asarray([0.5, 0.45])), 0.0
    for _ in range(4000):
        x = as_float64(patterns[rng.integers(0, 2, 1)])
        w, theta = neuro.bcm_step(w, theta, x, 0.02, 0.1)
    w = to_numpy(w)
    responses = patterns @ w
    assert w.min() < 0.01 * w.max() and responses.max() > 4 * responses.min()


def test_stdp_window_from_traces_equals_the_exponential_formula():
    params = neuro.STDPParameters(a_plus=0.01, a_minus=0.012, tau_plus=16.8, tau_minus=33.7)
    delays = as_float64(np.arange(-60.0, 61.0, 5.0))
    simulated = to_numpy(neuro.stdp_window(delays, params, dt=0.1))
    formula = to_numpy(neuro.stdp_window_formula(delays, params))
    np.testing.assert_allclose(simulated, formula, atol=1e-12)
    assert simulated[delays.shape[0] // 2 + 1] > 0 > simulated[delays.shape[0] // 2 - 1]


def test_stdp_step_checks_shapes():
    w = as_float64(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"pre_spikes must have shape \(3,\)"):
        neuro.stdp_step(w, as_float64(np.zeros(3)), as_float64(np.zeros(2)), as_float64(np.zeros(2)),
                        as_float64(np.zeros(2)), neuro.STDPParameters(), 0.1)


# ----------------------------------------------------------------------------- networks


def test_wilson_cowan_oscillates_only_for_intermediate_drive():
    drive = as_float64(np.asarray([0.0, 1.25, 3.0]))
    e, _ = neuro.simulate_wilson_cowan(drive, drive * 0.0, 400.0, 0.1)
    late = to_numpy(e)[-2000:]
    amplitude = late.max(axis=0) - late.min(axis=0)
    assert amplitude[1] > 0.1 and amplitude[0] < 1e-6 and amplitude[2] < 1e-2


def test_wilson_cowan_fixed_points_solve_the_equations_and_the_jacobian_is_their_derivative():
    from dataclasses import replace

    params = replace(neuro.WilsonCowanParameters(), w_ei=12.0)

    def rhs(state, p, q):
        e, i = state
        s_e = float(neuro.wilson_cowan_sigmoid(np.asarray(params.w_ee * e - params.w_ei * i + p), params.a_e,
                                               params.theta_e))
        s_i = float(neuro.wilson_cowan_sigmoid(np.asarray(params.w_ie * e - params.w_ii * i + q), params.a_i,
                                               params.theta_i))
        return np.array([(-e + (1 - params.r_e * e) * s_e) / params.tau_e,
                         (-i + (1 - params.r_i * i) * s_i) / params.tau_i])

    points = neuro.wilson_cowan_fixed_points(1.0, 0.0, params)
    assert len(points) == 3  # bistable at this drive: low rest, saddle, unstable focus
    for point in points:
        assert np.max(np.abs(rhs(point, 1.0, 0.0))) < 1e-12
        jacobian = neuro.wilson_cowan_jacobian(*point, 1.0, 0.0, params)
        h = 1e-6
        numeric = np.stack([(rhs(np.add(point, d), 1.0, 0.0) - rhs(np.subtract(point, d), 1.0, 0.0)) / (2 * h)
                            for d in (np.array([h, 0.0]), np.array([0.0, h]))], axis=1)
        np.testing.assert_allclose(jacobian, numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="w_ei must be a finite number > 0"):
        neuro.wilson_cowan_fixed_points(1.0, 0.0, replace(params, w_ei=0.0))


def test_wilson_cowan_perturbations_grow_at_the_rate_of_the_leading_eigenvalue():
    from dataclasses import replace

    couplings = np.array([7.0, 10.5])  # either side of the Hopf bifurcation at P = 1.25
    fixed, rates = [], []
    for w in couplings:
        params = replace(neuro.WilsonCowanParameters(), w_ei=float(w))
        (point,) = neuro.wilson_cowan_fixed_points(1.25, 0.0, params)
        fixed.append(point)
        rates.append(np.linalg.eigvals(neuro.wilson_cowan_jacobian(*point, 1.25, 0.0, params)).real.max())
    fixed = np.array(fixed)
    batch = replace(neuro.WilsonCowanParameters(), w_ei=as_float64(couplings))
    e, _ = neuro.simulate_wilson_cowan(as_float64(np.full(2, 1.25)), as_float64(np.zeros(2)), 200.0, 0.01, batch,
                                       e0=as_float64(fixed[:, 0] + 1e-4), i0=as_float64(fixed[:, 1]))
    envelope = np.abs(to_numpy(e) - fixed[:, 0]).reshape(-1, 4000, 2).max(axis=1)
    measured = np.polyfit(np.arange(1, 5) * 40.0, np.log(envelope[1:]), 1)[0]
    assert rates[0] < 0 < rates[1]
    np.testing.assert_allclose(measured, rates, atol=1e-3)


def test_hopfield_asynchronous_updates_never_raise_the_energy():
    rng = np.random.default_rng(2)
    patterns = as_float64(rng.choice([-1.0, 1.0], size=(12, 60)))
    weights = neuro.hopfield_weights(patterns)
    host_weights = to_numpy(weights)  # the unit-by-unit updates run on the host, any backend
    state = rng.choice([-1.0, 1.0], size=(3, 60))
    energy = to_numpy(neuro.hopfield_energy(weights, as_float64(state)))
    for i in rng.permutation(60).tolist() * 2:
        state[:, i] = np.where(state @ host_weights[:, i] >= 0.0, 1.0, -1.0)
        new = to_numpy(neuro.hopfield_energy(weights, as_float64(state)))
        assert np.all(new <= energy + 1e-12)
        energy = new
    recalled = neuro.hopfield_recall(weights, patterns, seed=np.random.default_rng(0))
    final, stored = (to_numpy(neuro.hopfield_energy(weights, s)) for s in (recalled, patterns))
    assert np.all(final <= stored)


def test_hopfield_recalls_corrupted_patterns_below_capacity():
    rng = np.random.default_rng(0)
    patterns = as_float64(rng.choice([-1.0, 1.0], size=(5, 100)))
    flips = np.where(rng.random((5, 100)) < 0.1, -1.0, 1.0)
    recalled = neuro.hopfield_recall(neuro.hopfield_weights(patterns), patterns * as_float64(flips))
    assert np.all(to_numpy(neuro.hopfield_overlaps(recalled, patterns)) == 1.0)
    weights = to_numpy(neuro.hopfield_weights(patterns))
    assert np.allclose(weights, weights.T) and np.all(np.diag(weights) == 0)


def test_cuba_network_is_deterministic_and_matches_its_event_list():
    targets, v0, _, _ = neuro.cuba_initial_state(400, seed=1)
    run = neuro.simulate_cuba_network(targets, v0, 100.0)
    again = neuro.simulate_cuba_network(targets, v0, 100.0)
    counts = to_numpy(run.counts)
    assert counts.sum() > 0 and np.array_equal(counts, to_numpy(again.counts))
    assert np.array_equal(np.bincount(to_numpy(run.spike_neuron), minlength=400), counts)


def test_uncoupled_cuba_neurons_fire_at_the_lif_rate():
    from dataclasses import replace

    params = replace(neuro.CUBAParameters(), w_e=0.0, w_i=0.0)
    targets, v0, _, _ = neuro.cuba_initial_state(200, seed=np.random.default_rng(4), params=params)
    run = neuro.simulate_cuba_network(targets, v0, 1000.0, 0.1, params)
    rate = 1000.0 / (params.t_ref + params.tau_m * np.log((params.e_l - params.v_reset) / (params.e_l - params.v_th)))
    assert np.all(np.abs(to_numpy(run.counts) - rate) <= 1.0)


def test_cuba_exact_update_matches_a_fine_euler_integration():
    params = neuro.CUBAParameters()
    decay, reach_e, reach_i = neuro.networks._propagation(params, 0.1)
    v, g_e, g_i, h = -55.0, 3.0, -2.0, 1e-5
    for _ in range(10000):
        v += h * ((g_e + g_i) - (v - params.e_l)) / params.tau_m
        g_e -= h * g_e / params.tau_e
        g_i -= h * g_i / params.tau_i
    exact = params.e_l + (-55.0 - params.e_l) * decay + 3.0 * reach_e - 2.0 * reach_i
    assert abs(v - exact) < 1e-5


def test_random_targets_are_distinct_and_skip_self():
    targets = neuro.random_targets(50, 10, seed=0)
    assert all(len(set(row)) == 10 and i not in row for i, row in enumerate(targets.tolist()))


# ----------------------------------------------------------------------------- surrogate-gradient network


def _spiking_inputs(rng, n=3, t=6, d=4, h=5, c=3):
    return as_float64(rng.random((n, t, d)), rng.normal(size=(d, h)), rng.normal(size=h),
                      rng.normal(size=(h, c)), rng.normal(size=c))


@pytest.mark.parametrize("beta_out", [0.0, 0.8, 1.0])
def test_spiking_backward_is_the_exact_gradient_of_the_smooth_forward(rng, beta_out):
    config = neuro.SpikingConfig(beta=0.85, beta_out=beta_out, slope=4.0)
    errors = check_backward(lambda *a: neuro.spiking_forward(*a, config, smooth=True),
                            neuro.spiking_backward, list(_spiking_inputs(rng)))
    assert max(errors.values()) < 1e-6, errors


def test_spiking_readout_gradient_is_exact_with_real_spikes(rng):
    # Spikes do not depend on the read-out weights, so their gradient has no surrogate in it.
    config = neuro.SpikingConfig()
    errors = check_backward(lambda *a: neuro.spiking_forward(*a, config), neuro.spiking_backward,
                            list(_spiking_inputs(rng)), wrt=[3, 4])
    assert max(errors.values()) < 1e-6, errors


def test_fast_sigmoid_grad_is_its_derivative():
    x = as_float64(np.linspace(-2, 2, 9) + 0.01)
    h = 1e-6
    numeric = (to_numpy(neuro.fast_sigmoid(x + h, 3.0)) - to_numpy(neuro.fast_sigmoid(x - h, 3.0))) / (2 * h)
    np.testing.assert_allclose(to_numpy(neuro.fast_sigmoid_grad(x, 3.0)), numeric, rtol=1e-6)


def test_spiking_classifier_learns_a_separable_task():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    first_half = np.arange(8)[None, :] < 4
    intensities = np.where(first_half == (labels[:, None] == 0), 0.9, 0.1)  # class 0 lights the first half
    x = neuro.rate_encode(as_float64(intensities), 10, seed=1)
    y = asarray(labels)
    model = neuro.SpikingClassifier(8, 16, 2, input_scale=3.0, seed=0)
    fit(model, nn.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=1e-2), x, y, epochs=15, batch_size=20)
    assert evaluate(model, nn.SoftmaxCrossEntropy(), x, y)["accuracy"] > 0.95


def test_rate_encode_checks_its_input():
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        neuro.rate_encode(as_float64(np.asarray([[2.0]])), 5)
    with pytest.raises(ValueError, match=r"x must be 2-D \(N, D\)"):
        neuro.rate_encode(as_float64(np.zeros(3)), 5)


# ----------------------------------------------------------------------------- coding, receptive fields


def test_maximum_likelihood_decoding_approaches_the_cramer_rao_bound():
    population = neuro.Population(n=24, window=300.0)
    stimulus, counts = population.sample(2000, seed=0)
    error = to_numpy(neuro.angle_error(neuro.maximum_likelihood(counts, population), stimulus))
    bound = float(np.mean(1.0 / to_numpy(population.fisher_information(stimulus))))
    assert 0.85 < np.mean(error**2) / bound < 1.25


def test_mlp_decoder_learns_the_angle():
    population = neuro.Population(n=16, window=300.0)
    stimulus, counts = population.sample(1500, seed=0)
    decode = neuro.fit_mlp_decoder(counts, stimulus, seed=np.random.default_rng(1), hidden=32, epochs=8)
    test_stimulus, test_counts = population.sample(500, seed=1)
    error = to_numpy(neuro.angle_error(decode(test_counts), test_stimulus))
    assert np.degrees(np.sqrt(np.mean(error**2))) < 20.0  # chance: about 104 degrees


def test_fisher_information_scales_with_gain_and_window():
    stimulus = as_float64(np.asarray([0.3, 1.0]))
    base = to_numpy(neuro.Population().fisher_information(stimulus))
    doubled = to_numpy(neuro.Population(gain=2.0, window=400.0).fisher_information(stimulus))
    np.testing.assert_allclose(doubled, 4.0 * base, rtol=1e-12)


def test_fast_ica_unmixes_independent_sources():
    rng = np.random.default_rng(0)
    sources = rng.laplace(size=(5000, 3))
    mixed = sources @ rng.normal(size=(3, 3))
    x = as_float64(mixed - mixed.mean(axis=0))
    white = neuro.pca_whitening(x, 3)
    unmixing = neuro.fast_ica(x @ white.whiten, 3, seed=0)
    recovered = to_numpy((x @ white.whiten) @ unmixing.T)
    correlation = np.abs(np.corrcoef(recovered.T, sources.T)[:3, 3:])
    assert np.all(correlation.max(axis=1) > 0.98)


def test_orientation_selectivity_of_a_grating_and_of_noise():
    size = 8
    rows, cols = np.mgrid[0:size, 0:size]
    grating = np.cos(2 * np.pi * 0.2 * cols).ravel()
    blob = np.exp(-((rows - 3.5) ** 2 + (cols - 3.5) ** 2) / 4.0).ravel()
    responses, _ = neuro.grating_responses(as_float64(np.stack([grating, blob])), size)
    osi = to_numpy(neuro.orientation_selectivity(responses))
    assert osi[0] > 0.5 > 0.2 > osi[1]


def test_gabor_fit_recovers_a_gabor():
    truth = np.asarray([1.0, 4.0, 5.0, 1.5, 2.5, 0.7, 0.18, 0.4])
    fit_ = neuro.fit_gabor(neuro.gabor(truth, 10), 10)
    assert fit_.r2 > 0.999


def test_spatial_extent_separates_a_spot_from_a_spread_filter():
    size = 10
    spot = np.zeros(size * size)
    spot[44] = 1.0
    flat = np.ones(size * size)
    extent = to_numpy(neuro.spatial_extent(as_float64(np.stack([spot, flat])), size))
    assert extent[0] < 1e-6 and abs(extent[1] - np.sqrt(2 * (size**2 - 1) / 12)) < 1e-9


def test_receptive_field_measures_tell_a_gabor_from_noise():
    size = 10
    gabors = np.stack([neuro.gabor([1.0, 4.5, 4.5, 1.5, 2.0, angle, 0.25, 0.0], size)
                       for angle in np.linspace(0, np.pi, 4, endpoint=False)])
    noise = np.random.default_rng(0).normal(size=(4, size * size))
    gabor_measures, fits = neuro.receptive_field_measures(as_float64(gabors), size, fits=2)
    noise_measures, _ = neuro.receptive_field_measures(as_float64(noise), size, fits=2)
    assert len(fits) == 2 and all(f.r2 > 0.999 for f in fits)
    assert gabor_measures["orientation selectivity"] > 3 * noise_measures["orientation selectivity"]
    assert gabor_measures["Gabor fit R^2"] > 0.999 > 0.5 > noise_measures["Gabor fit R^2"]
    assert abs(gabor_measures["Gabor envelope (px)"] - np.sqrt(1.5 * 2.0)) < 1e-3
    assert gabor_measures["energy spread (px)"] < noise_measures["energy spread (px)"]
    with pytest.raises(ValueError, match="filters"):
        neuro.receptive_field_measures(as_float64(gabors[0]), size)


def test_modulation_of_a_constant_and_of_a_rectified_response():
    assert neuro.modulation(np.full(8, 2.0)) == 0.0
    assert neuro.modulation(np.clip(np.cos(np.linspace(0, 2 * np.pi, 8)), 0, None)) == 1.0


def test_the_energy_model_is_phase_invariant_only_for_a_quadrature_pair():
    size = 10
    centred = [1.0, 4.5, 4.5, 2.0, 2.0, 0.6, 0.25, 0.3]
    simple, complex_cell = neuro.energy_model_responses(centred, size)
    assert neuro.forms_quadrature_pair(centred, size)
    assert neuro.modulation(simple) == 1.0 and neuro.modulation(complex_cell) < 0.01
    # along a row, the grid aliases twice a carrier of 0.48 cycles per pixel to near zero
    fast = [*centred[:5], 0.0, 0.48, 0.3]
    assert not neuro.forms_quadrature_pair(fast, size)
    assert neuro.modulation(neuro.energy_model_responses(fast, size)[1]) > 0.5
    # the patch's edge cuts off an envelope centred on it
    at_edge = [1.0, 0.5, 4.5, 2.0, 2.0, 0.0, 0.25, 0.3]
    assert not neuro.forms_quadrature_pair(at_edge, size)
    assert neuro.modulation(neuro.energy_model_responses(at_edge, size)[1]) > 0.2
    # an envelope too narrow for its carrier: 4% of it at twice the frequency, modulation about twice that
    narrow = [1.0, 4.5, 4.5, 1.0, 1.0, 0.0, 0.2, 0.3]
    assert not neuro.forms_quadrature_pair(narrow, size)
    assert 0.06 < neuro.modulation(neuro.energy_model_responses(narrow, size)[1]) < 0.1
    # the derivation: modulation 2 L / (1 + L^2), L the envelope's leakage (up to the 32 phases' sampling)
    rng = np.random.default_rng(0)
    for _ in range(20):
        params = [1.0, *rng.uniform(-1, 10, 2), *rng.uniform(0.7, 4, 2), rng.uniform(0, np.pi),
                  rng.uniform(0.05, 0.5), rng.uniform(0, 2 * np.pi)]
        leakage = neuro.envelope_leakage(params, size)
        predicted = 2 * leakage / (1 + leakage**2)
        measured = neuro.modulation(neuro.energy_model_responses(params, size)[1])
        assert 0.98 * predicted - 1e-12 <= measured <= predicted + 1e-12
    survey = neuro.energy_model_survey([neuro.GaborFit(np.asarray(p), 1.0) for p in (centred, fast)], size)
    assert survey["pair"] == [True, False] and survey["simple_modulation"] == [1.0, 1.0]
    assert survey["leakage"][0] < 1e-3 < 0.5 < survey["leakage"][1]
    assert survey["complex_modulation"][0] < 0.01 < 0.5 < survey["complex_modulation"][1]
    with pytest.raises(ValueError, match="phases"):
        neuro.energy_model_responses(centred, size, phases=0)
    with pytest.raises(ValueError, match="8 numbers"):
        neuro.envelope_leakage(centred[:7], size)


def test_receptive_field_config_checks_itself_and_draws_independent_streams(monkeypatch):
    with pytest.raises(ValueError, match="keep"):
        neuro.ReceptiveFieldConfig(size=5, keep=30)
    with pytest.raises(ValueError, match="leakage"):
        neuro.ReceptiveFieldConfig(leakage=0.0)
    seeds_seen = {}
    from deepref.neuro import experiments

    def record(name, original):
        def wrapped(*args, seed, **kwargs):
            seeds_seen.setdefault(name, []).append(np.random.default_rng(seed).integers(2**62))
            return original(*args, seed=seed, **kwargs)
        return wrapped

    monkeypatch.setattr(experiments, "image_patches", record("patches", experiments.image_patches))
    monkeypatch.setattr(experiments, "fast_ica", record("ica", experiments.fast_ica))
    config = neuro.ReceptiveFieldConfig(size=6, count=300, keep=6, gabor_fits=1)
    for seed in (0, 1):
        sets = neuro.natural_image_filters(config, seed)
        assert {k: v.shape for k, v in sets.items()} == dict.fromkeys(sets, (6, 36))
    draws = seeds_seen["patches"] + seeds_seen["ica"]
    assert len(set(draws)) == 4  # runs 0 and 1 share no stream


def test_experiment_functions_return_their_records():
    digits = neuro.digits_run(neuro.DigitsConfig(hidden=32, steps=8, epochs=3, n_train=300), seed=0)
    assert set(digits) == {"test_accuracy", "spike_rate"} and 0.3 < digits["test_accuracy"] <= 1.0  # chance: 0.1
    assert 0.0 < digits["spike_rate"] < 1.0
    relu = neuro.digits_run(neuro.DigitsConfig(model="relu", hidden=16, epochs=1, n_train=300), seed=0)
    assert relu["spike_rate"] == 0.0
    small = neuro.hopfield_retrieval_run(neuro.HopfieldConfig(n=100, load=0.05), seed=0)
    assert small["retrieved_fraction"] == 1.0
    with pytest.raises(ValueError, match="unknown model 'cnn'"):
        neuro.DigitsConfig(model="cnn")  # configs check themselves when built
    with pytest.raises(ValueError, match="load must be"):
        neuro.HopfieldConfig(load=0.0)
    config = neuro.HopfieldConfig(n=60, load=0.1)
    by_int = neuro.hopfield_retrieval_run(config, seed=3)
    assert by_int == neuro.hopfield_retrieval_run(config, seed=3)
    by_generator = neuro.hopfield_retrieval_run(config, seed=np.random.default_rng(3))
    assert 0.0 <= by_generator["retrieved_fraction"] <= 1.0


def test_the_registered_neuroscience_experiments_run_a_tiny_config_through_a_sweep(tmp_path):
    from dataclasses import replace

    from deepref import experiments as sweeps
    from deepref import reproduce

    registered = {e.name: e for e in reproduce.experiments("neuroscience")}
    assert set(registered) == {"snn_digits", "hopfield_capacity", "hopfield_capacity_1600", "receptive_fields"}
    tiny = {"snn_digits": replace(registered["snn_digits"].small[0], hidden=8, steps=4, epochs=1, n_train=200),
            "hopfield_capacity": replace(registered["hopfield_capacity"].small[0], n=40),
            "receptive_fields": replace(registered["receptive_fields"].small[0], size=6, count=400, keep=8,
                                        gabor_fits=2)}
    for name, config in tiny.items():
        runs = sweeps.grid(name, registered[name].function, [config], [0])
        result = sweeps.run_sweep(runs, tmp_path / name, executor=sweeps.SerialExecutor(), progress=False)
        (row,) = result.rows
        assert row["status"] == "ok", row.get("error")
        value = row["result"]
        for key in registered[name].metric.split("."):
            value = value[key]
        assert 0.0 <= float(value) <= 1.0
