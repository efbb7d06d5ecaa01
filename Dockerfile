# StreetShop: one image for the web server and the workers (the command picks the role).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STREETSHOP_VAR_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY plugins plugins
COPY webapp webapp
COPY workers workers
COPY templates templates
COPY manage.py ./
# A GPU image swaps this torch wheel for a CUDA one (--index-url of the PyTorch CUDA builds).
RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir -e .
RUN useradd --create-home streetshop && mkdir -p /data && chown streetshop /data
USER streetshop
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
