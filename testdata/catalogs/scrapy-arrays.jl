[{"productId": "p-1", "imageName": "a.jpg", "title": "First", "price": 19.90}, {"productId": 2, "imageName": "b.jpg", "title": "Second"}]

[{"productId": "p-3", "imageName": "with space.jpg", "nested": {"k": [1, 2, {"deep": null}]}}]
