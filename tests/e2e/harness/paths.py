from pathlib import Path

E2E_DIR = Path(__file__).resolve().parents[1]      # tests/e2e
REPO = E2E_DIR.parents[1]                           # the repository root
ARTIFACTS = REPO / "tests" / "artifacts"            # git-ignored
EB_HOST = "myapp.eba-abc123.us-east-1.elasticbeanstalk.com"
CUSTOM_HOST = "api.example.test"
