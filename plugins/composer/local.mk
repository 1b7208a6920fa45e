# plugins/composer
