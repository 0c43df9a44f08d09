"""deepref.rl: gradient checks of every RL loss, MDP solvers, buffers, returns, envs, learners, CLI."""

import dataclasses
import json

import numpy as np
import pytest

from deepref import backend, rl
from deepref.gradcheck import as_float64, check_backward
from deepref.rl import experiments as rl_experiments

TOL = 1e-7


def _policy_batch(rng, n=7, a=3):
    logits = as_float64(rng.normal(size=(n, a)))
    actions = backend.asarray(rng.integers(0, a, size=n))
    advantages = as_float64(rng.normal(size=n))
    return logits, actions, advantages


# -- gradient checks ---------------------------------------------------------


def test_huber_gradient_both_zones(rng):
    pred = as_float64(rng.normal(size=9) * 2.0)
    target = as_float64(backend.to_numpy(pred) + np.array([0.3, -0.4, 2.5, -3.0, 0.7, -1.6, 0.2, 4.0, -0.5]))
    errors = check_backward(rl.huber_forward, rl.huber_backward, [pred, target, 1.0], wrt=[0, 1])
    assert max(errors.values()) < TOL, errors


def test_huber_values_match_its_definition():
    pred, target = as_float64([0.5, 3.0]), as_float64([0.0, 0.0])
    loss, _ = rl.huber_forward(pred, target, delta=1.0)
    assert float(loss) == pytest.approx((0.5 * 0.25 + (3.0 - 0.5)) / 2)


def test_policy_gradient_loss_gradient(rng):
    logits, actions, adv = _policy_batch(rng)
    errors = check_backward(rl.policy_gradient_forward, rl.policy_gradient_backward, [logits, actions, adv], wrt=[0])
    assert errors[0] < TOL


def test_entropy_gradient_and_maximum(rng):
    logits, _, _ = _policy_batch(rng)
    assert check_backward(rl.entropy_forward, rl.entropy_backward, [logits])[0] < TOL
    uniform, _ = rl.entropy_forward(as_float64(np.zeros((2, 4))))
    assert float(uniform) == pytest.approx(np.log(4))


def test_clipped_surrogate_gradient_in_both_regimes(rng):
    logits, actions, adv = _policy_batch(rng, n=12)
    log_pi = backend.to_numpy(rl.log_prob_of(logits, actions))
    # ratios away from the kinks at 1 +- 0.2: some inside the clip range, some outside
    ratios = np.array([0.5, 0.9, 1.1, 1.5, 0.6, 1.05, 1.4, 0.95, 0.7, 1.3, 1.0 + 1e-3, 0.85])
    old = as_float64(log_pi - np.log(ratios))
    inputs = [logits, actions, old, adv, 0.2]
    errors = check_backward(rl.clipped_surrogate_forward, rl.clipped_surrogate_backward, inputs, wrt=[0])
    assert errors[0] < TOL
    _, cache = rl.clipped_surrogate_forward(*inputs)
    clipped_rows = np.flatnonzero(backend.to_numpy(cache.weights) == 0)
    assert 0 < clipped_rows.size < 12  # both regimes were exercised


def test_value_loss_gradient(rng):
    values, returns = as_float64(rng.normal(size=8)), as_float64(rng.normal(size=8))
    assert check_backward(rl.value_loss_forward, rl.value_loss_backward, [values, returns], wrt=[0])[0] < TOL


def test_clipped_surrogate_equals_policy_gradient_at_ratio_one(rng):
    logits, actions, adv = _policy_batch(rng)
    old = rl.log_prob_of(logits, actions)
    _, c1 = rl.clipped_surrogate_forward(logits, actions, old, adv)
    _, c2 = rl.policy_gradient_forward(logits, actions, adv)
    np.testing.assert_allclose(backend.to_numpy(rl.clipped_surrogate_backward(1.0, c1)),
                               backend.to_numpy(rl.policy_gradient_backward(1.0, c2)), atol=1e-12)


# -- tabular -------------------------------------------------------------------


def _gridworld(xp):
    """Sutton & Barto's 5x5 gridworld (Example 3.5) as an MDP with gamma 0.9."""
    P, R = np.zeros((25, 4, 25)), np.zeros((25, 4))
    moves = [(-1, 0), (0, 1), (1, 0), (0, -1)]
    for s in range(25):
        r, c = divmod(s, 5)
        for a, (dr, dc) in enumerate(moves):
            if s == 1:
                nxt, reward = 21, 10.0
            elif s == 3:
                nxt, reward = 13, 5.0
            elif 0 <= r + dr < 5 and 0 <= c + dc < 5:
                nxt, reward = (r + dr) * 5 + c + dc, 0.0
            else:
                nxt, reward = s, -1.0
            P[s, a, nxt], R[s, a] = 1.0, reward
    return rl.make_mdp(backend.asarray(P), backend.asarray(R), 0.9)


def test_gridworld_values_match_sutton_barto(xp):
    mdp = _gridworld(xp)
    random_values = rl.policy_evaluation(mdp, backend.asarray(np.full((25, 4), 0.25)))
    np.testing.assert_allclose(backend.to_numpy(random_values)[:5], [3.3, 8.8, 4.4, 5.3, 1.5], atol=0.05)
    optimal = rl.value_iteration(mdp)
    np.testing.assert_allclose(backend.to_numpy(optimal.V)[:5], [22.0, 24.4, 22.0, 19.4, 17.5], atol=0.05)
    V_pi, policy, _ = rl.policy_iteration(mdp)
    np.testing.assert_allclose(backend.to_numpy(V_pi), backend.to_numpy(optimal.V), atol=1e-8)


def test_value_iteration_contracts_at_rate_gamma(xp):
    mdp = _gridworld(xp)
    v_star = backend.to_numpy(rl.value_iteration(mdp, tol=1e-12).V)
    V = xp.zeros(25, dtype=xp.float64)
    errors = []
    for _ in range(30):
        errors.append(np.max(np.abs(backend.to_numpy(V) - v_star)))
        V = rl.bellman_optimality(mdp, V)
    assert all(e <= 0.9**k * errors[0] + 1e-9 for k, e in enumerate(errors))


def test_q_learning_matches_value_iteration_on_cliff_walking():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CliffWalking-v1")
    mdp = rl.mdp_from_gymnasium(env, gamma=0.9)
    q_star = backend.to_numpy(rl.value_iteration(mdp).Q)
    run = rl.q_learning(env, episodes=2000, alpha=1.0, gamma=0.9, epsilon=0.3, seed=0)
    q = backend.to_numpy(run.Q)
    reachable = np.abs(q) > 0  # every pair but the goal and the cliff cells, never occupied
    np.testing.assert_allclose(q[reachable], q_star[reachable], atol=1e-6)
    assert reachable.sum() == 48 * 4 - 11 * 4


def test_sarsa_runs_and_learns_a_safer_value(rng):
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CliffWalking-v1")
    run = rl.sarsa(env, episodes=200, alpha=0.5, gamma=1.0, epsilon=0.1, seed=0)
    assert run.returns.shape == (200,)
    assert np.mean(run.returns[-50:]) > -60


class _StuckEnv:
    """One state that every action leaves unchanged (s' = s), reward -1, ending after ``length`` steps."""

    def __init__(self, length=3):
        import gymnasium as gym

        self.observation_space, self.action_space = gym.spaces.Discrete(1), gym.spaces.Discrete(2)
        self.length, self.actions = length, []

    def reset(self, seed=None):
        self.t = 0
        return 0, {}

    def step(self, action):
        self.actions.append(action)
        self.t += 1
        return 0, -1.0, False, self.t >= self.length, {}


def test_q_learning_acts_on_the_updated_table_when_the_state_repeats():
    pytest.importorskip("gymnasium")
    env = _StuckEnv(length=2)
    run = rl.q_learning(env, episodes=1, alpha=1.0, gamma=0.5, epsilon=0.0, seed=0)
    # step 1 takes the tied action a0 and sets Q[0, a0] = -1; the second action must see that
    # update and take the other action (drawn before it, it would repeat a0)
    assert env.actions[1] != env.actions[0]
    assert backend.to_numpy(run.Q)[0, env.actions[1]] == -1.0


def test_seeds_spawn_independent_streams_and_accept_generators():
    assert rl.spawn_seeds(0, 4) == rl.spawn_seeds(0, 4)
    assert len(set(rl.spawn_seeds(0, 4) + rl.spawn_seeds(1, 4))) == 8
    assert len(rl.spawn_seeds(backend.default_rng(3), 2)) == 2
    assert len(rl.spawn_seeds(np.random.default_rng(3), 2)) == 2
    with pytest.raises(ValueError, match="seed"):
        rl.spawn_seeds(-1, 2)
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CliffWalking-v1")
    a = rl.sarsa(env, episodes=5, seed=np.random.default_rng(1)).returns
    b = rl.sarsa(env, episodes=5, seed=np.random.default_rng(1)).returns
    np.testing.assert_array_equal(a, b)


def test_bad_discounts_and_mdps_are_rejected():
    with pytest.raises(ValueError, match=r"gamma \(discount\) must be in \[0.0, 1.0\]"):
        rl.check_discount(1.5)
    with pytest.raises(ValueError, match="gamma"):
        rl.td_target(as_float64([1.0]), as_float64([1.0]), backend.asarray([False]), -0.1)
    with pytest.raises(ValueError, match="P must have shape"):
        rl.make_mdp(as_float64(np.zeros((3, 2, 4))), as_float64(np.zeros((3, 2))), 0.9)


# -- returns -------------------------------------------------------------------


def test_terminated_does_not_bootstrap_but_truncated_does(xp):
    rewards = as_float64([1.0, 1.0])
    next_values = as_float64([10.0, 10.0])
    y = rl.td_target(rewards, next_values, backend.asarray([True, False]), 0.9)
    np.testing.assert_allclose(backend.to_numpy(y), [1.0, 10.0])
    # GAE: env 0 terminates at t=0, env 1 is truncated at t=0 (value of its final obs: 10)
    r = as_float64([[1.0, 1.0]])
    v = as_float64([[0.0, 0.0]])
    nv = as_float64([[10.0, 10.0]])
    adv, ret = rl.gae(r, v, nv, backend.asarray([[True, False]]), backend.asarray([[False, True]]), 0.9, 0.95)
    np.testing.assert_allclose(backend.to_numpy(ret), [[1.0, 10.0]])


def test_gae_with_lambda_one_is_the_discounted_return(rng):
    T, gamma = 6, 0.9
    r = rng.normal(size=(T, 1))
    done = np.zeros((T, 1), dtype=bool)
    done[2, 0] = True
    values = rng.normal(size=(T, 1))
    next_values = np.concatenate([values[1:], np.zeros((1, 1))])  # V(s_{t+1}); the last bootstraps 0
    adv, ret = rl.gae(as_float64(r), as_float64(values), as_float64(next_values), backend.asarray(done),
                      backend.asarray(np.zeros((T, 1), dtype=bool)), gamma, 1.0)
    expected = np.zeros(T)
    for t in range(T):
        end = 3 if t <= 2 else T
        expected[t] = sum(gamma ** (k - t) * r[k, 0] for k in range(t, end))
    np.testing.assert_allclose(backend.to_numpy(ret)[:, 0], expected, atol=1e-12)


# -- replay buffer -------------------------------------------------------------


def test_replay_buffer_wraps_and_samples_reproducibly(xp):
    buf = rl.ReplayBuffer(capacity=5, observation_dim=2, seed=3)
    with pytest.raises(ValueError, match="fewer than batch_size=2"):
        buf.sample(2)
    for k in range(4):
        obs = backend.asarray(np.full((2, 2), float(k)))
        buf.add(obs, backend.asarray([k, k]), as_float64([k, k]), obs, backend.asarray([False, True]))
    assert len(buf) == 5 and buf.position == 3
    np.testing.assert_array_equal(backend.to_numpy(buf.rewards), [2.0, 3.0, 3.0, 1.0, 2.0])
    a = backend.to_numpy(buf.sample(4).rewards)
    b = backend.to_numpy(rl.ReplayBuffer(5, 2, seed=3)._rng.integers(0, 5, size=4))
    np.testing.assert_array_equal(a, backend.to_numpy(buf.rewards)[b])
    # without replay: the latest transitions, oldest first
    np.testing.assert_array_equal(backend.to_numpy(buf.latest(3).rewards), [2.0, 3.0, 3.0])


def test_replay_buffer_rejects_wrong_shapes():
    buf = rl.ReplayBuffer(capacity=5, observation_dim=3)
    obs = as_float64(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"obs must have shape \(2, 3\)"):
        buf.add(obs, backend.asarray([0, 0]), as_float64([0.0, 0.0]), obs, backend.asarray([False, False]))


# -- environments --------------------------------------------------------------


def test_cartpole_vec_resets_finished_episodes_in_the_same_step(xp):
    env = rl.CartPoleVec(3)
    env.reset(seed=0)
    env.set_state(as_float64([[0.0, 0.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
                  elapsed=[0, 0, 499])
    step = env.step(backend.asarray([1, 1, 1]))
    np.testing.assert_array_equal(backend.to_numpy(step.terminated), [True, False, False])
    np.testing.assert_array_equal(backend.to_numpy(step.truncated), [False, False, True])
    final, obs = backend.to_numpy(step.final_obs), backend.to_numpy(step.obs)
    assert final[0, 2] > 0.2 and np.all(np.abs(obs[0]) <= 0.05)  # reset after the fall
    np.testing.assert_array_equal(final[1], obs[1])


def test_cartpole_vec_rejects_bad_actions(xp):
    env = rl.CartPoleVec(2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(backend.asarray([0, 1]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(2,\)"):
        env.step(backend.asarray([0, 1, 1]))


def test_dqn_rejects_a_continuous_action_space():
    pytest.importorskip("gymnasium")
    with pytest.raises(ValueError, match="discrete action space"):
        rl.train_dqn(rl.DQNConfig(env_id="Pendulum-v1", total_steps=10))


def test_configs_are_frozen_and_checked_when_made():
    with pytest.raises(ValueError, match="gamma"):
        rl.DQNConfig(gamma=1.2)
    with pytest.raises(ValueError, match="eps_steps"):
        rl.DQNConfig(eps_steps=-1)
    with pytest.raises(ValueError, match="minibatches"):
        rl.pg_config("ppo", minibatches=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rl.DQNConfig().lr = 0.1
    assert rl.DQNConfig(hidden=[8]).hidden == (8,)
    assert "seed" not in {f.name for f in dataclasses.fields(rl.DQNConfig)}
    assert "seed" not in {f.name for f in dataclasses.fields(rl.PGConfig)}


# -- learners, policies, command line ------------------------------------------


def test_policy_checks_observation_shape_and_round_trips(tmp_path):
    net = rl.mlp([4, 8, 2], seed=1)
    policy = rl.Policy(net, [4, 8, 2], "relu", "dqn", "CartPole-v1")
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        policy.act(np.zeros(5))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        policy.act_batch(as_float64(np.zeros((2, 3))))
    policy.save(tmp_path / "p.npz")
    loaded = rl.load_policy(tmp_path / "p.npz")
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(loaded.net.state_dict()[k], v)
    obs = np.array([0.01, -0.2, 0.03, 0.4], dtype=np.float32)
    assert loaded.act(obs) == policy.act(obs)
    assert (loaded.algorithm, loaded.env_id) == ("dqn", "CartPole-v1")


def test_dqn_short_run_is_reproducible_and_learns_something():
    config = rl.DQNConfig(total_steps=1500, learning_starts=500, hidden=(32, 32))
    a, b = rl.train_dqn(config, seed=4), rl.train_dqn(config, seed=backend.default_rng(4))
    np.testing.assert_array_equal(a.episode_returns, rl.train_dqn(config, seed=4).episode_returns)
    assert len(b.episode_returns) > 0
    assert len(a.losses) >= 250 and np.isfinite(a.losses).all()
    assert a.episode_steps[-1] <= 1500 and len(a.episode_steps) == len(a.episode_returns)


def test_evaluation_keeps_the_best_policy_and_stops_at_the_target():
    config = rl.DQNConfig(total_steps=1200, learning_starts=200, hidden=(16,), eval_every=400, eval_episodes=4)
    result = rl.train_dqn(config, seed=0)
    assert [s for s, _, _ in result.evaluations] == [400, 800, 1200]
    assert result.best_return == max(m for _, m, _ in result.evaluations)
    stopped = rl.train_dqn(dataclasses.replace(config, target_return=1.0), seed=0)
    assert stopped.solved_at == 400 and stopped.env_steps == 400


def test_ctrl_c_returns_the_latest_policy():
    calls = []

    def progress(env_steps, recent):
        calls.append(env_steps)
        if len(calls) == 2:
            raise KeyboardInterrupt

    result = rl.train_pg(rl.pg_config("a2c", total_steps=10_000), seed=0, progress=progress)
    assert result.interrupted and result.env_steps < 10_000


def test_no_replay_trains_on_the_latest_transitions(monkeypatch):
    seen = []
    original = rl.ReplayBuffer.latest

    def latest(self, count):
        seen.append(self.position)
        return original(self, count)

    monkeypatch.setattr(rl.ReplayBuffer, "latest", latest)
    rl.train_dqn(rl.DQNConfig(total_steps=400, learning_starts=100, hidden=(8,), replay=False, batch_size=16),
                 seed=0)
    assert len(seen) > 0


@pytest.mark.parametrize("algorithm", rl.ALGORITHMS)
def test_policy_gradient_learners_improve_on_cartpole(algorithm):
    result = rl.train_pg(rl.pg_config(algorithm, total_steps=12_000), seed=0)
    first, last = result.episode_returns[:20].mean(), result.episode_returns[-10:].mean()
    assert last > first, (first, last)


class _NaNRewardCartPole(rl.CartPoleVec):
    """CartPole whose rewards are NaN: a stand-in for a diverging run."""

    def step(self, actions):
        step = super().step(actions)
        return step._replace(reward=step.reward * float("nan"))


@pytest.mark.parametrize("learner", ["dqn", "a2c"])
def test_nan_loss_stops_the_run(learner, monkeypatch):
    make = lambda env_id, num_envs, dtype=None: _NaNRewardCartPole(num_envs)  # noqa: E731
    monkeypatch.setattr(rl.training, "make_vec_env", make)
    with pytest.raises(FloatingPointError, match="training diverged|NaN or inf"):
        if learner == "dqn":
            rl.train_dqn(rl.DQNConfig(total_steps=400, learning_starts=100))
        else:
            rl.train_pg(rl.pg_config("a2c", total_steps=400))


def test_learners_read_the_device_once_per_batch_of_steps(monkeypatch):
    reads = []
    original = rl.training.to_numpy

    def counting(array):
        reads.append(1)
        return original(array)

    monkeypatch.setattr(rl.training, "to_numpy", counting)
    result = rl.train_dqn(rl.DQNConfig(total_steps=2048, learning_starts=256, hidden=(8,)), seed=0)
    vector_steps = 2048 // 4
    assert len(reads) <= 2 * (vector_steps // rl.training.SYNC_EVERY + 1)
    assert len(result.losses) == 2 * (vector_steps - 256 // 4 + 1)


# -- the chapter's experiments (deepref.rl.experiments) -------------------------


def test_experiment_records_are_plain_json_and_dqn_learner_is_the_book_dqn():
    tiny = rl.DQNConfig(total_steps=800, learning_starts=200, hidden=(8,))
    record = rl_experiments.dqn_run(rl_experiments.DQNRunConfig(tiny, eval_episodes=2), seed=1)
    assert json.loads(json.dumps(record)) == record
    assert record["env_steps"] == 800 and len(record["eval_returns"]) == 2
    assert record["episodes"] == len(record["episode_returns"]) == len(record["episode_steps"])
    assert np.isfinite(record["start_value"])
    book = rl_experiments.DQNRunConfig(dataclasses.replace(rl_experiments.BOOK_DQN, total_steps=800),
                                       eval_episodes=2)
    as_learner = rl_experiments.learner_run(rl_experiments.LearnerConfig("dqn", 800, eval_episodes=2), seed=1)
    timeless = lambda r: {k: v for k, v in r.items() if k not in ("wall_seconds", "start_value")}  # noqa: E731
    assert timeless(as_learner) == timeless(rl_experiments.dqn_run(book, seed=1))


@pytest.mark.parametrize("learner", rl.ALGORITHMS)
def test_policy_gradient_experiment_runs(learner):
    config = rl_experiments.LearnerConfig(learner, total_steps=512, eval_episodes=2)
    record = rl_experiments.learner_run(config, seed=0)
    assert record["env_steps"] >= 512 and np.isfinite(record["eval_mean"])


def test_experiment_configs_are_checked():
    with pytest.raises(ValueError, match="learner"):
        rl_experiments.LearnerConfig("sac")
    with pytest.raises(ValueError, match="eval_episodes"):
        rl_experiments.DQNRunConfig(eval_episodes=0)
    with pytest.raises(ValueError, match="CartPole-v1"):
        rl_experiments.DQNRunConfig(rl.DQNConfig(env_id="Acrobot-v1"))


def test_the_solving_run_is_the_command_lines():
    from deepref.rl.__main__ import train_config

    assert rl_experiments.DQN_SOLVE.dqn == train_config("dqn")


def test_paired_intervals():
    scores = np.random.default_rng(0).normal(size=10)
    low, high = rl_experiments.paired_difference_ci(scores + 1.0, scores)
    assert low == high == 1.0
    with pytest.raises(ValueError, match="shape"):
        rl_experiments.paired_difference_ci(scores, scores[:5])
