"""Batch sampler: composition, determinism, catalog-only products."""

import pytest

from trainer.sampler import CATALOG, PHOTO, SIMULATED, ProductBatchSampler


def make(**kw):
    args = dict(
        photo_counts=[5, 3, 0, 8, 1, 4],
        catalog_counts=[1, 2, 1, 1, 1, 1],
        products_per_batch=4,
        photos_per_product=3,
        simulated_fraction=0.25,
        seed=7,
    )
    args.update(kw)
    return ProductBatchSampler(**args)


def test_batch_has_P_products_each_with_catalog_and_K_photo_slots():
    sampler = make()
    for batch in sampler:
        products = sorted({k.product for k in batch})
        assert len(products) == 4
        for p in products:
            kinds = [k.kind for k in batch if k.product == p]
            assert kinds.count(CATALOG) == 1
            assert kinds.count(PHOTO) + kinds.count(SIMULATED) == 3
        assert len(batch) == 4 * 4


def test_items_index_existing_images():
    sampler = make(batches_per_epoch=50)
    counts = {
        PHOTO: sampler.photo_counts,
        CATALOG: sampler.catalog_counts,
        SIMULATED: sampler.catalog_counts,
    }
    for batch in sampler:
        for k in batch:
            assert 0 <= k.item < counts[k.kind][k.product]


def test_product_without_photos_gets_simulated_photos_only():
    sampler = make(batches_per_epoch=30)
    slots = [k for b in sampler for k in b if k.product == 2 and k.kind != CATALOG]
    assert slots and all(k.kind == SIMULATED for k in slots)


def test_simulated_fraction_zero_uses_real_photos_where_there_are_some():
    sampler = make(simulated_fraction=0.0, batches_per_epoch=30)
    slots = [k for b in sampler for k in b if k.product != 2 and k.kind != CATALOG]
    assert all(k.kind == PHOTO for k in slots)


def test_catalog_only_training():
    sampler = make(photo_counts=[0] * 6)
    assert all(k.kind in (CATALOG, SIMULATED) for b in sampler for k in b)


def test_skip_photoless_never_draws_products_without_photos():
    sampler = make(skip_photoless=True, simulated_fraction=0.0, batches_per_epoch=30)
    drawn = {k.product for b in sampler for k in b}
    assert drawn == {0, 1, 3, 4, 5}
    assert all(k.kind in (CATALOG, PHOTO) for b in sampler for k in b)
    with pytest.raises(ValueError, match="skip_photoless"):
        make(photo_counts=[0, 0, 0, 0, 0, 3], skip_photoless=True)


def test_photo_slot_seeds_are_never_zero():
    # seed 0 is the clean catalog view that the catalog memory embeds
    assert all(k.seed > 0 for b in make(batches_per_epoch=40) for k in b)


def test_deterministic_per_epoch_and_different_across_epochs():
    a, b = make(), make()
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)


def test_ranks_draw_different_batches():
    assert list(make(rank=0, world_size=2)) != list(make(rank=1, world_size=2))


def test_default_epoch_shows_every_photo_about_once():
    sampler = make()
    assert len(sampler) == -(-sum(sampler.photo_counts) // (4 * 3))


def test_products_per_batch_capped_at_product_count():
    sampler = make(products_per_batch=50)
    assert all(len({k.product for k in b}) == 6 for b in sampler)


@pytest.mark.parametrize(
    "kw",
    [
        dict(catalog_counts=[1, 0, 1, 1, 1, 1]),
        dict(photo_counts=[1], catalog_counts=[1]),
        dict(simulated_fraction=1.5),
        dict(products_per_batch=1),
    ],
)
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        make(**kw)


def test_photoless_catalog_only_draws_them_with_their_catalog_image_alone():
    sampler = make(photoless_catalog_only=True, simulated_fraction=0.0, batches_per_epoch=30)
    keys = [k for b in sampler for k in b]
    assert {k.product for k in keys} == {0, 1, 2, 3, 4, 5}
    assert [k.kind for k in keys if k.product == 2] and all(
        k.kind == CATALOG for k in keys if k.product == 2
    )
    assert all(k.kind in (CATALOG, PHOTO) for k in keys)
