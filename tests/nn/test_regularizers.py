"""nn.penalty: the lambdas a user gives, as a regularizer."""

from __future__ import annotations


def test_penalty_of_the_given_lambdas():
    from descentlab import nn

    assert nn.penalty(0, 0) is None
    assert isinstance(nn.penalty(1e-3, 0), nn.L1) and nn.penalty(1e-3, 0).lam == 1e-3
    assert isinstance(nn.penalty(0, 1e-3), nn.L2)
    both = nn.penalty(1e-3, 2e-3)
    assert isinstance(both, nn.ElasticNet) and (both.l1, both.l2) == (1e-3, 2e-3)
