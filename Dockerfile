# A serving image for a trained neurodx run. NOT built or tested by this project's CI (there is no Docker there):
# check it on your machine before relying on it. Build from the repository root and mount the run (or the folder that
# `neurodx export` wrote) read-only:
#   docker build -t neurodx .
#   docker run --rm -p 8000:8000 -v "$PWD/runs/daft/fold0:/model:ro" neurodx serve /model --host 0.0.0.0
#   docker run --rm -p 8000:8000 -v "$PWD/export:/model:ro" neurodx serve /model --backend onnx --host 0.0.0.0
# The server has no TLS and no authentication: put it behind a reverse proxy that adds both before exposing it.
FROM python:3.11-slim
WORKDIR /app
COPY settings.ini setup.py constraints.txt README.md ./
COPY neurodx ./neurodx
# the CPU build of torch first (the locked version), then neurodx with the rest of the locked stack
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c constraints.txt . \
 && useradd --create-home neurodx
USER neurodx
EXPOSE 8000
ENTRYPOINT ["neurodx"]
CMD ["serve", "/model", "--host", "0.0.0.0", "--port", "8000"]
