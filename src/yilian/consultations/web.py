from fastapi import APIRouter

router = APIRouter(prefix="/consultations", include_in_schema=False)
