"""Evaluation of rendered talking heads: PSNR, SSIM, LPIPS, FID, LMD, NIOE and SyncNet scores (issue 6)."""
