# The real taskcontrol server for these tests: fixtures taskcontrol_server and taskcontrol_env.
pytest_plugins = ["taskcontrol.testing"]
