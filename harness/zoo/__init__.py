"""The zoo (being assembled): tiny local checkpoints that reproduce real vLLM failures."""

from harness.zoo.core import MEMBERS, ZOO_VERSION, ZooMember, build_member, build_zoo, default_zoo_dir, ensure_member

__all__ = ["MEMBERS", "ZOO_VERSION", "ZooMember", "build_member", "build_zoo", "default_zoo_dir", "ensure_member"]
