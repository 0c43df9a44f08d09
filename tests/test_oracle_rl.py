"""deepref.rl against Gymnasium: the vectorised CartPole step for step, the toy-text MDP tables."""

import numpy as np
import pytest

from deepref import backend, rl

gym = pytest.importorskip("gymnasium")

pytestmark = pytest.mark.oracle


def _controller(obs):
    """A hand-written balancing rule (push towards where the pole leans), good for 500 steps."""
    return int(obs[2] + 0.5 * obs[3] + 0.01 * obs[0] + 0.1 * obs[1] > 0)


@pytest.mark.parametrize("policy", ["controller", "random"])
def test_cartpole_vec_equals_gymnasium_step_for_step(policy):
    rng = np.random.default_rng(0)
    for seed in range(3):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=seed)
        ours = rl.CartPoleVec(1)
        ours.reset(seed=0)
        ours.set_state(backend.asarray(np.asarray(env.unwrapped.state, dtype=np.float64)[None, :]))
        steps = 0
        while steps < 600:
            steps += 1
            action = _controller(obs) if policy == "controller" else int(rng.integers(2))
            obs, reward, terminated, truncated, _ = env.step(action)
            step = ours.step(backend.asarray([action]))
            np.testing.assert_array_equal(backend.to_numpy(step.final_obs)[0], np.asarray(env.unwrapped.state))
            np.testing.assert_array_equal(backend.to_numpy(step.final_obs)[0].astype(np.float32), obs)
            assert float(backend.to_numpy(step.reward)[0]) == reward
            assert bool(backend.to_numpy(step.terminated)[0]) == terminated
            assert bool(backend.to_numpy(step.truncated)[0]) == truncated
            if terminated or truncated:
                break
        if policy == "controller":
            assert truncated and steps == 500  # the episode reached Gymnasium's 500-step limit
        else:
            assert terminated


def test_mdp_table_reproduces_gymnasium_transitions():
    env = gym.make("FrozenLake-v1")
    mdp = rl.mdp_from_gymnasium(env, gamma=0.95)
    P = backend.to_numpy(mdp.P)
    table = env.unwrapped.P
    for s in range(16):
        for a in range(4):
            go_on = sum(p for p, _, _, done in table[s][a] if not done)
            assert P[s, a].sum() == pytest.approx(go_on)
    # value iteration's greedy policy reaches the goal about 74% of the time on 4x4 FrozenLake
    result = rl.value_iteration(mdp)
    policy = backend.to_numpy(result.policy)
    wins = 0
    for episode in range(400):
        s, _ = env.reset(seed=episode)
        done = False
        while not done:
            s, r, terminated, truncated, _ = env.step(int(policy[s]))
            done = terminated or truncated
        wins += r
    assert wins / 400 > 0.6
