"""The three route styles, one ``APIRouter`` each; ``main.py`` mounts the one selected."""
