# One image for the web server and the workers. The GPU worker needs a CUDA build of torch:
# build it with --build-arg TORCH_SPEC="torch==2.13.0" --build-arg TORCH_INDEX=<your CUDA wheel index>.
FROM python:3.11-slim
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX=""
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_DEBUG=0
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN pip install ${TORCH_INDEX:+--index-url $TORCH_INDEX} "$TORCH_SPEC"
COPY pyproject.toml README.md ./
COPY tuniser tuniser
COPY corpus corpus
COPY annotation annotation
COPY training training
COPY inference inference
COPY benchmarks benchmarks
COPY templates templates
COPY static static
COPY manage.py ./
RUN pip install '.[s3]' && pip install --no-deps 'resemblyzer==0.1.4' && DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "tuniser.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "600"]
