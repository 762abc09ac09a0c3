# syntax=docker/dockerfile:1
# One image for every deployable of YRD Emissions Watch; what it carries is chosen by EXTRAS:
#   EXTRAS=""            gateways (obd, hj212, rsd), Faust workers, migrate: no torch, no Streamlit
#   EXTRAS="dashboards"  Streamlit dashboards
#   EXTRAS="vision"      the smoke camera service (torch pinned by pyproject.toml: torch==2.13.0,
#                        CPU wheels from TORCH_INDEX_URL)
# The command line is the entry point: `docker run emwatch:base worker`, `… gateway obd`, …
FROM python:3.11-slim

ARG EXTRAS=""
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
ARG TORCH_VERSION="2.13.0"

LABEL org.opencontainers.image.title="YRD Emissions Watch" \
      org.opencontainers.image.description="Emissions surveillance for the YRD demonstration zone: remote sensing, black smoke, remote OBD, vapour recovery" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.version="0.1.0" \
      io.emwatch.extras="${EXTRAS}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    EMW_DATA_DIR=/var/lib/emwatch \
    EMW_HOST=0.0.0.0

# OpenCV (vision extra) needs glib at run time; nothing else needs system packages.
RUN case ",${EXTRAS}," in \
      *,vision,*|*,all,*) apt-get update \
        && apt-get install -y --no-install-recommends libglib2.0-0 \
        && rm -rf /var/lib/apt/lists/* ;; \
    esac

RUN python -m venv "$VIRTUAL_ENV"
WORKDIR /opt/emwatch
# The source stays in the image: the AGPL offers it to every user of the network service.
COPY . .
RUN set -eu; \
    if [ -n "$EXTRAS" ]; then spec=".[${EXTRAS}]"; else spec="."; fi; \
    case ",${EXTRAS}," in \
      *,vision,*|*,all,*) pip install --extra-index-url "$TORCH_INDEX_URL" "$spec" \
        && python -c "import sys, torch; v = torch.__version__.split('+')[0]; sys.exit(0 if v == '${TORCH_VERSION}' else 'torch ' + v + ' installed, ${TORCH_VERSION} pinned')" ;; \
      *) pip install "$spec" \
        && python -c "import importlib.util, sys; sys.exit('torch must not be in this image' if importlib.util.find_spec('torch') else 0)" ;; \
    esac; \
    emwatch --help > /dev/null

# Non-root. The per-service data folders exist in the image, owned by emw, so that a named volume
# mounted there (evidence images, RSD drop folder) starts with the right owner.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/emwatch --create-home emw \
    && mkdir -p /var/lib/emwatch/smoke_capture /var/lib/emwatch/remote_sensing /var/lib/emwatch/faust \
    && chown -R emw:emw /var/lib/emwatch
USER emw
WORKDIR /var/lib/emwatch

# gateways: OBD (HJ 1239) 9100, HJ 212 9212, RSD upload 8088; dashboards 8501; Faust web 6066
EXPOSE 9100 9212 8088 8501 6066
ENTRYPOINT ["emwatch"]
CMD ["--help"]
