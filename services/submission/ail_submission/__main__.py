from ail_shared.http import serve
from ail_submission.bootstrap import bootstrap
from ail_submission.config import Settings

settings = Settings()
serve(lambda: bootstrap(settings), settings)
