from ail_shared.http import serve
from ail_submission.bootstrap import Settings, bootstrap

settings = Settings()
serve(lambda: bootstrap(settings), settings)
