from ail_customs.bootstrap import bootstrap
from ail_customs.config import Settings
from ail_shared.http import serve

settings = Settings()
serve(lambda: bootstrap(settings), settings)
