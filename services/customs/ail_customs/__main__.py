from ail_customs.bootstrap import Settings, bootstrap
from ail_shared.http import serve

settings = Settings()
serve(lambda: bootstrap(settings), settings)
