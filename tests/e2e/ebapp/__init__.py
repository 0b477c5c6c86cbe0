"""A stand-in for an Elastic Beanstalk Django app (DEBUG=False, strict ALLOWED_HOSTS)."""
