# Pinned AWS agents for Debian images (AL2023 installs them from its signed
# repositories). Update deliberately: download each .deb for the target architecture
# from the versioned URL in packer/files/install.sh, check it (AWS publishes .sig files
# signed with its agent key next to the packages), and record its SHA-256 here.
#
#   packer build -var-file packer/agents.pkrvars.hcl ... packer/
#
# The digests below are placeholders that fail the checksum on purpose, and the
# versions are examples of the format: record a version you checked and its digest
# before the first Debian bake. (AL2023 bakes do not use this file.)
ssm_agent_version        = "3.3.2299.0"
ssm_agent_sha256         = "0000000000000000000000000000000000000000000000000000000000000000"
cloudwatch_agent_version = "1.300057.1b1167"
cloudwatch_agent_sha256  = "0000000000000000000000000000000000000000000000000000000000000000"
